import { VmEventRecord, causeFromEvents, parseEvents } from "../../src/drivers/vsphere/powerOffCause";
import { parseXml, xsiNamespace } from "../../src/drivers/vsphere/xml";

/**
 * Who powered a VM off, from its vim25 events (issue 12: a hard power-off by someone else during
 * the graceful wait was reported graceful). The events as vCenter (and vcsim) post them:
 * PowerOffVM_Task → VmStoppingEvent, VmPoweredOffEvent; VMware Tools' ShutdownGuest →
 * VmGuestShutdownEvent, then VmPoweredOffEvent when the guest is off.
 */
const ev = (type: string, key: number, userName?: string): VmEventRecord => ({ type, key, ...(userName ? { userName } : {}) });

describe("causeFromEvents", () => {
    test("a power-off operation (VmStoppingEvent) right before the power-off: someone else's, with who", () => {
        const cause = causeFromEvents([
            ev("VmPoweredOnEvent", 10),
            ev("VmGuestShutdownEvent", 12, "automation"),
            ev("VmStoppingEvent", 14, "VSPHERE.LOCAL\\admin"),
            ev("VmPoweredOffEvent", 15, "VSPHERE.LOCAL\\admin"),
        ]);
        expect(cause).toEqual({
            by: "external",
            detail: expect.stringContaining('powered off by "VSPHERE.LOCAL\\admin" (VmStoppingEvent'),
        });
    });

    test("the guest's shutdown after our request: the guest's own", () => {
        expect(causeFromEvents([ev("VmPoweredOnEvent", 3), ev("VmGuestShutdownEvent", 4), ev("VmPoweredOffEvent", 5)])).toMatchObject({
            by: "guest",
        });
    });

    test("a guest that shut itself down (no operation at all before the off): the guest's own", () => {
        expect(causeFromEvents([ev("VmStartingEvent", 1), ev("VmPoweredOnEvent", 2), ev("VmPoweredOffEvent", 9)])).toMatchObject({
            by: "guest",
        });
    });

    test("order is by key, whatever order the page comes in (vcsim's pages are not sorted)", () => {
        const page = [ev("VmPoweredOffEvent", 54), ev("VmStoppingEvent", 53), ev("VmGuestShutdownEvent", 41), ev("VmPoweredOffEvent", 42)];
        expect(causeFromEvents([...page].reverse())).toMatchObject({ by: "external" });
        expect(causeFromEvents([ev("VmPoweredOffEvent", 42), ev("VmStoppingEvent", 30), ev("VmGuestShutdownEvent", 41)])).toMatchObject({
            by: "guest",
        });
    });

    test("HA powering it off on host isolation: someone else's", () => {
        expect(causeFromEvents([ev("VmPoweredOnEvent", 1), ev("VmPowerOffOnIsolationEvent", 2)])).toMatchObject({ by: "external" });
        expect(
            causeFromEvents([ev("VmPoweredOnEvent", 1), { type: "VmShutdownOnIsolationEvent", key: 2, shutdownResult: "poweredOff" }]),
        ).toMatchObject({ by: "external" });
        expect(
            causeFromEvents([ev("VmPoweredOnEvent", 1), { type: "VmShutdownOnIsolationEvent", key: 2, shutdownResult: "shutdown" }]),
        ).toMatchObject({ by: "guest" });
    });

    test("no answer when the events do not tell: no power-off yet, powered on after it, or the page cut before it", () => {
        expect(causeFromEvents([])).toBeUndefined();
        expect(causeFromEvents([ev("VmGuestShutdownEvent", 4)])).toBeUndefined();
        expect(causeFromEvents([ev("VmStoppingEvent", 4), ev("VmPoweredOffEvent", 5), ev("VmPoweredOnEvent", 6)])).toBeUndefined();
        // A full page (1,000 events) whose oldest is the power-off: what came before it is cut off.
        const newer = (n: number) => Array.from({ length: n }, (_, i) => ev("VmGuestShutdownEvent", 100 + i));
        expect(causeFromEvents([ev("VmPoweredOffEvent", 1), ...newer(999)])).toBeUndefined();
        expect(causeFromEvents([ev("VmPoweredOffEvent", 1), ...newer(998)])).toMatchObject({ by: "guest" });
    });
});

describe("parseEvents", () => {
    test("reads a QueryEvents answer: type from xsi:type, key, userName, shutdownResult", () => {
        const xml =
            `<QueryEventsResponse xmlns="urn:vim25" xmlns:xsi="${xsiNamespace}">` +
            `<returnval xsi:type="VmStoppingEvent"><key>53</key><chainId>53</chainId><createdTime>2026-11-27T07:11:03.289Z</createdTime>` +
            `<userName>user</userName><vm><name>DC0_H0_VM0</name><vm type="VirtualMachine">vm-57</vm></vm></returnval>` +
            `<returnval xsi:type="VmPoweredOffEvent"><key>54</key><chainId>54</chainId><createdTime>2026-11-27T07:11:03.290Z</createdTime>` +
            `<userName>user</userName></returnval>` +
            `<returnval xsi:type="VmShutdownOnIsolationEvent"><key>60</key><shutdownResult>poweredOff</shutdownResult></returnval>` +
            `<returnval xsi:type="VmPoweredOnEvent"><chainId>1</chainId></returnval>` +
            `</QueryEventsResponse>`;
        const events = parseEvents(parseXml(xml).children);
        expect(events).toEqual([
            { type: "VmStoppingEvent", key: 53, userName: "user" },
            { type: "VmPoweredOffEvent", key: 54, userName: "user" },
            { type: "VmShutdownOnIsolationEvent", key: 60, shutdownResult: "poweredOff" },
        ]);
    });
});
