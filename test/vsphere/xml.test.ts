import { faultFromLocalizedMethodFault, faultFromSoap, isMethodMissing } from "../../src/drivers/vsphere/faults";
import { escapeXml, child, parseXml, xsiNamespace } from "../../src/drivers/vsphere/xml";
import { observedFromPowerState } from "../../src/drivers/vsphere/waiter";

/** Parsing and fault mapping on the exact shapes vcsim and vCenter write (captured with curl). */
describe("vim25 XML", () => {
    const envelope = (body: string) =>
        `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="${xsiNamespace}"><soapenv:Body>${body}</soapenv:Body></soapenv:Envelope>`;

    test("vcsim's XMLSchema-instance:type is read as the XSI type, by namespace", () => {
        const doc = parseXml(
            envelope(
                `<RetrievePropertiesExResponse xmlns="urn:vim25"><returnval><objects><obj type="VirtualMachine">vm-57</obj><propSet><name>runtime.powerState</name>` +
                    `<val xmlns:XMLSchema-instance="${xsiNamespace}" XMLSchema-instance:type="VirtualMachinePowerState">poweredOn</val></propSet></objects></returnval></RetrievePropertiesExResponse>`,
            ),
        );
        const response = child(doc, "Body")?.children[0];
        expect(response).toMatchObject({ name: "RetrievePropertiesExResponse", namespace: "urn:vim25" });
        const val = child(child(child(child(response, "returnval"), "objects"), "propSet"), "val");
        expect(val).toMatchObject({ xsiType: "VirtualMachinePowerState", text: "poweredOn" });
        const obj = child(child(child(response, "returnval"), "objects"), "obj");
        expect(obj).toMatchObject({ attributes: { type: "VirtualMachine" }, text: "vm-57", xsiType: undefined });
    });

    test("a MoRef value keeps both its xsi:type and its plain type attribute", () => {
        const doc = parseXml(`<val xmlns:xsi="${xsiNamespace}" xsi:type="ManagedObjectReference" type="Task">task-9</val>`);
        expect(doc).toMatchObject({ xsiType: "ManagedObjectReference", attributes: { type: "Task" }, text: "task-9" });
    });

    test("a `type` attribute whose prefix is bound to another namespace is not an XSI type", () => {
        const doc = parseXml(`<val xmlns:xsi="urn:not-xsi" xsi:type="Nope" xmlns:q="${xsiNamespace}" q:type="xsd:string">x</val>`);
        expect(doc.xsiType).toBe("string");
    });

    test("prefixes declared on an ancestor apply to descendants (a task's nested fault)", () => {
        const doc = parseXml(
            `<val xmlns:XMLSchema-instance="${xsiNamespace}" XMLSchema-instance:type="LocalizedMethodFault"><fault XMLSchema-instance:type="InvalidPowerState">` +
                `<requestedState>poweredOff</requestedState><existingState>poweredOff</existingState></fault><localizedMessage>*types.InvalidPowerState</localizedMessage></val>`,
        );
        const fault = faultFromLocalizedMethodFault(doc, "PowerOffVM_Task on vm-57");
        expect(fault).toMatchObject({
            faultType: "InvalidPowerState",
            faultString: "",
            fields: { existingState: "poweredOff", requestedState: "poweredOff" },
        });
        expect(fault.message).toBe(
            "vSphere PowerOffVM_Task on vm-57 failed with InvalidPowerState: existingState=poweredOff, requestedState=poweredOff",
        );
    });

    test("entities are decoded and text is escaped on the way out", () => {
        expect(parseXml("<name>a &amp; b &lt;c&gt;</name>").text).toBe("a & b <c>");
        expect(parseXml("<name>it&#39;s &#x41;</name>").text).toBe("it's A");
        expect(escapeXml(`<pa&ss"'>`)).toBe("&lt;pa&amp;ss&quot;&apos;&gt;");
        expect(parseXml(`<p>${escapeXml(`<pa&ss"'>`)}</p>`).text).toBe(`<pa&ss"'>`);
    });

    test("an empty body is refused; an HTML error page parses but is no SOAP envelope", () => {
        expect(parseXml("<html><body>Bad gateway</body></html>")).toMatchObject({ name: "html", namespace: undefined });
        expect(() => parseXml("")).toThrow(/not an XML document/);
    });
});

describe("vim25 faults", () => {
    const fault = (detail: string, faultstring = "") =>
        parseXml(
            `<soapenv:Fault xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="${xsiNamespace}"><faultcode>ServerFaultCode</faultcode><faultstring>${faultstring}</faultstring><detail>${detail}</detail></soapenv:Fault>`,
        );

    test("the type comes from the detail's XSI type", () => {
        const f = faultFromSoap(
            fault(`<InvalidLoginFault xmlns="urn:vim25" xsi:type="InvalidLogin"></InvalidLoginFault>`, "Login failure"),
            "Login on SessionManager",
        );
        expect(f).toMatchObject({ faultType: "InvalidLogin", faultString: "Login failure" });
        expect(f.message).toBe("vSphere Login on SessionManager failed with InvalidLogin: Login failure");
    });

    test("without an XSI type, from the element name minus Fault", () => {
        expect(faultFromSoap(fault(`<ToolsUnavailableFault xmlns="urn:vim25"/>`), "ShutdownGuest on vm-1").faultType).toBe(
            "ToolsUnavailable",
        );
    });

    test("NoPermission shows the missing privilege; MethodNotFound counts as a missing method", () => {
        const noPermission = faultFromSoap(
            fault(
                `<NoPermissionFault xmlns="urn:vim25" xsi:type="NoPermission"><object type="VirtualMachine">vm-1</object><privilegeId>VirtualMachine.Interact.PowerOff</privilegeId></NoPermissionFault>`,
                "Permission to perform this operation was denied.",
            ),
            "PowerOffVM_Task on vm-1",
        );
        expect(noPermission.message).toMatch(
            /NoPermission: Permission to perform this operation was denied\., privilegeId=VirtualMachine\.Interact\.PowerOff/,
        );
        const missing = faultFromSoap(
            fault(`<MethodNotFoundFault xmlns="urn:vim25" xsi:type="MethodNotFound"><method>FindAllByUuid</method></MethodNotFoundFault>`),
            "FindAllByUuid on SearchIndex",
        );
        expect(isMethodMissing(missing)).toBe(true);
        expect(isMethodMissing(noPermission)).toBe(false);
    });

    test("a fault without detail falls back to the faultcode", () => {
        expect(faultFromSoap(fault(""), "X on y").faultType).toBe("ServerFaultCode");
    });
});

describe("runtime.powerState", () => {
    test.each([
        ["poweredOn", "running"],
        ["poweredOff", "stopped"],
        ["suspended", "suspended"],
        ["somethingNew", "unknown"],
    ])("%s is %s, with the vSphere word kept as detail", (value, state) => {
        expect(observedFromPowerState(value)).toEqual({ state, detail: value });
    });

    test("a missing value is unknown, and says so", () => {
        expect(observedFromPowerState(undefined)).toEqual({ state: "unknown", detail: "no runtime.powerState" });
    });
});
