import { VimFault } from "../../src/drivers/vsphere/faults";
import { VsphereSession } from "../../src/drivers/vsphere/session";
import { MoRef, SoapTransport } from "../../src/drivers/vsphere/soap";
import { vsphereSpec } from "../../src/drivers/vsphere/spec";
import { XmlElement, parseXml } from "../../src/drivers/vsphere/xml";
import { systemClock } from "../../src/power/clock";
import { AuthenticationError } from "../../src/power/errors";

/**
 * The session's re-login rule on a scripted endpoint (the vcsim fleet test terminates a real
 * session): NotAuthenticated logs in again once for every call that failed, and a refused
 * password is never tried again.
 */
const serviceContent = parseXml(
    `<RetrieveServiceContentResponse xmlns="urn:vim25"><returnval>` +
        `<rootFolder type="Folder">group-d1</rootFolder><propertyCollector type="PropertyCollector">propertyCollector</propertyCollector>` +
        `<searchIndex type="SearchIndex">SearchIndex</searchIndex><sessionManager type="SessionManager">SessionManager</sessionManager>` +
        `<viewManager type="ViewManager">ViewManager</viewManager><about><apiType>VirtualCenter</apiType></about></returnval></RetrieveServiceContentResponse>`,
);
const properties = parseXml(
    `<RetrievePropertiesExResponse xmlns="urn:vim25"><returnval><objects><obj type="VirtualMachine">vm-1</obj>` +
        `<propSet><name>runtime.powerState</name><val>poweredOn</val></propSet></objects></returnval></RetrievePropertiesExResponse>`,
);

/** An endpoint whose session expires on `expire()`; `refuse` makes every later Login an InvalidLogin. */
function scripted() {
    const state = { expired: false, refuse: false, calls: [] as string[] };
    const onTransport = (transport: SoapTransport): void => {
        transport.call = async (method: string, target: MoRef): Promise<XmlElement> => {
            state.calls.push(method);
            await new Promise((resolve) => setImmediate(resolve));
            switch (method) {
                case "RetrieveServiceContent":
                    return serviceContent;
                case "Login":
                    if (state.refuse) throw new VimFault("InvalidLogin", `Login on ${target.value}`, "Cannot complete login", {});
                    state.expired = false;
                    return parseXml(`<LoginResponse xmlns="urn:vim25"/>`);
                default:
                    if (state.expired) throw new VimFault("NotAuthenticated", `${method} on ${target.value}`, "", {});
                    return properties;
            }
        };
    };
    return { state, onTransport };
}

async function open(onTransport: (t: SoapTransport) => void, logs: string[] = []): Promise<VsphereSession> {
    const target = vsphereSpec.parseTarget({ url: "https://vc.example.invalid/sdk", username: "svc", vm: "web-1" }, "target.vsphere");
    const credentials = vsphereSpec.parseCredentials({ password: "S3ssion-Pw-x7" }, "target.vsphere");
    return VsphereSession.open(target, credentials, { clock: systemClock, log: (m) => logs.push(m) }, { onTransport });
}

const vm: MoRef = { type: "VirtualMachine", value: "vm-1" };

describe("VsphereSession re-login", () => {
    test("five calls answered NotAuthenticated at once: one new Login, each sent again once", async () => {
        const { state, onTransport } = scripted();
        const logs: string[] = [];
        const session = await open(onTransport, logs);
        state.expired = true;
        const reads = await Promise.all(Array.from({ length: 5 }, () => session.client.retrieveProperties(vm, ["runtime.powerState"])));
        expect(reads.map((r) => r.get("runtime.powerState")?.text)).toEqual(Array(5).fill("poweredOn"));
        expect(state.calls.filter((c) => c === "Login")).toHaveLength(2);
        expect(state.calls.filter((c) => c === "RetrievePropertiesEx")).toHaveLength(10);
        expect(session.generation).toBe(1);
        expect(logs.filter((m) => /logging in again/.test(m))).toHaveLength(1);
        expect(logs.join("\n")).not.toContain("S3ssion-Pw-x7");
        await session.close();
    });

    test("a refused re-login: every call fails with AuthenticationError and Login is never tried again", async () => {
        const { state, onTransport } = scripted();
        const session = await open(onTransport);
        state.expired = true;
        state.refuse = true;
        const reads = Array.from({ length: 3 }, () => session.client.retrieveProperties(vm, ["runtime.powerState"]));
        for (const read of reads) await expect(read).rejects.toBeInstanceOf(AuthenticationError);
        await expect(session.client.retrieveProperties(vm, ["runtime.powerState"])).rejects.toThrow(
            /refused the login of "svc" \(InvalidLogin\)/,
        );
        expect(state.calls.filter((c) => c === "Login")).toHaveLength(2);
        // The last read was refused without a call.
        expect(state.calls.filter((c) => c === "RetrievePropertiesEx")).toHaveLength(3);
        await session.close();
        expect(state.calls).not.toContain("Logout");
    });
});
