import { PropertyUpdate, VimClient } from "../../src/drivers/vsphere/client";
import { VimFault } from "../../src/drivers/vsphere/faults";
import { CallOptions, MoRef } from "../../src/drivers/vsphere/soap";
import { PowerStateWaiter } from "../../src/drivers/vsphere/waiter";
import { XmlElement } from "../../src/drivers/vsphere/xml";
import { systemClock } from "../../src/power/clock";
import { ObservedState } from "../../src/power/driver";
import { VmNotFoundError } from "../../src/power/errors";
import { FakeClock } from "../power/fakes";

/**
 * The waiter's own logic, on a scripted PropertyCollector: the polling fallback, the deadline
 * cut with its background clean-up, and a VM that disappears. (vcsim covers the real protocol.)
 */
const vm: MoRef = { type: "VirtualMachine", value: "vm-1" };

function value(text: string): XmlElement {
    return { name: "val", namespace: "urn:vim25", attributes: {}, xsiType: "VirtualMachinePowerState", text, children: [] };
}

function update(version: string, powerState?: string, objectLeft = false): PropertyUpdate {
    return { version, changes: new Map(powerState ? [["runtime.powerState", value(powerState)]] : []), objectLeft };
}

/** A collector whose WaitForUpdatesEx answers are scripted; `undefined` = wait until aborted. */
class ScriptedCollector {
    readonly calls: string[] = [];
    constructor(
        private readonly answers: Array<PropertyUpdate | undefined>,
        private readonly missing?: string,
    ) {}

    async createPropertyCollector(): Promise<MoRef> {
        this.calls.push("CreatePropertyCollector");
        if (this.missing) throw new VimFault(this.missing, "CreatePropertyCollector on propertyCollector", "", {});
        return { type: "PropertyCollector", value: "pc-own" };
    }
    async destroyPropertyCollector(): Promise<void> {
        this.calls.push("DestroyPropertyCollector");
    }
    async createFilter(): Promise<MoRef> {
        this.calls.push("CreateFilter");
        return { type: "PropertyFilter", value: "filter-1" };
    }
    async destroyFilter(): Promise<void> {
        this.calls.push("DestroyPropertyFilter");
    }
    async cancelWaitForUpdates(): Promise<void> {
        this.calls.push("CancelWaitForUpdates");
    }
    waitForUpdates(
        _collector: MoRef,
        _filter: MoRef,
        version: string,
        _max: number,
        options: CallOptions = {},
    ): Promise<PropertyUpdate | undefined> {
        this.calls.push(`WaitForUpdatesEx(${version})`);
        const answer = this.answers.shift();
        if (answer) return Promise.resolve(answer);
        return new Promise((_resolve, reject) =>
            options.signal?.addEventListener("abort", () => reject(new Error("aborted")), { once: true }),
        );
    }
}

function waiterFor(collector: ScriptedCollector, reads: ObservedState[], options: { clock?: FakeClock; mode?: "events" | "poll" } = {}) {
    const logs: string[] = [];
    let readCount = 0;
    const waiter = new PowerStateWaiter(collector as unknown as VimClient, vm, {
        clock: options.clock ?? systemClock,
        log: (m) => logs.push(m),
        read: async () => reads[Math.min(readCount++, reads.length - 1)],
        mode: options.mode,
        pollIntervalMs: 1000,
    });
    return { waiter, logs, reads: () => readCount };
}

const running: ObservedState = { state: "running", detail: "poweredOn" };
const stopped: ObservedState = { state: "stopped", detail: "poweredOff" };

describe("PowerStateWaiter", () => {
    test("already there: one read, no filter", async () => {
        const collector = new ScriptedCollector([]);
        const { waiter } = waiterFor(collector, [stopped]);
        expect(await waiter.waitFor(["stopped"], systemClock.now() + 5_000)).toEqual(stopped);
        expect(collector.calls).toEqual([]);
    });

    test("events: the change arrives through WaitForUpdatesEx; the filter is dropped, the collector kept until close", async () => {
        const collector = new ScriptedCollector([update("1", "poweredOn"), update("2", "poweredOff")]);
        const { waiter } = waiterFor(collector, [running]);
        expect(await waiter.waitFor(["stopped"], systemClock.now() + 5_000)).toEqual(stopped);
        expect(collector.calls).toEqual([
            "CreatePropertyCollector",
            "CreateFilter",
            "WaitForUpdatesEx()",
            "WaitForUpdatesEx(1)",
            "DestroyPropertyFilter",
        ]);
        await waiter.close();
        await waiter.close();
        expect(collector.calls.filter((c) => c === "DestroyPropertyCollector")).toHaveLength(1);
    });

    test("the deadline cuts the long poll: latest state returned, then cancel and filter clean-up before the next wait", async () => {
        const collector = new ScriptedCollector([update("1", "poweredOn"), undefined, update("5", "poweredOff")]);
        const { waiter } = waiterFor(collector, [running]);
        const started = Date.now();
        expect(await waiter.waitFor(["stopped"], systemClock.now() + 300)).toEqual(running);
        expect(Date.now() - started).toBeLessThan(1_000);
        await waiter.waitFor(["stopped"], systemClock.now() + 5_000);
        const cancelAt = collector.calls.indexOf("CancelWaitForUpdates");
        expect(cancelAt).toBeGreaterThan(0);
        expect(collector.calls.indexOf("DestroyPropertyFilter")).toBeGreaterThan(cancelAt);
        expect(collector.calls.lastIndexOf("CreateFilter")).toBeGreaterThan(collector.calls.indexOf("DestroyPropertyFilter"));
    });

    test("a VM that leaves the filter is VmNotFoundError", async () => {
        const collector = new ScriptedCollector([update("1", "poweredOn"), update("2", undefined, true)]);
        const { waiter } = waiterFor(collector, [running]);
        await expect(waiter.waitFor(["stopped"], systemClock.now() + 5_000)).rejects.toBeInstanceOf(VmNotFoundError);
        expect(collector.calls).toContain("DestroyPropertyFilter");
    });

    test.each(["MethodNotFound", "NotSupported"])(
        "%s from the PropertyCollector: polling from then on, said once in the log",
        async (fault) => {
            const clock = new FakeClock();
            const collector = new ScriptedCollector([], fault);
            const { waiter, logs, reads } = waiterFor(collector, [running, running, running, stopped], { clock });
            const start = clock.now();
            expect(await waiter.waitFor(["stopped"], start + 60_000)).toEqual(stopped);
            expect(clock.now() - start).toBe(2_000);
            expect(logs).toEqual([expect.stringMatching(new RegExp(`does not support WaitForUpdatesEx \\(${fault}\\); polling`))]);
            expect(reads()).toBe(4);
            await waiter.waitFor(["stopped"], clock.now() + 60_000);
            expect(collector.calls.filter((c) => c === "CreatePropertyCollector")).toHaveLength(1);
        },
    );

    test("polling stops at the deadline with the latest state, never sleeping past it", async () => {
        const clock = new FakeClock();
        const { waiter } = waiterFor(new ScriptedCollector([]), [running], { clock, mode: "poll" });
        const start = clock.now();
        expect(await waiter.waitFor(["stopped"], start + 2_500)).toEqual(running);
        expect(clock.now() - start).toBe(2_500);
    });

    test("other faults are not swallowed", async () => {
        const collector = new ScriptedCollector([], "NoPermission");
        const { waiter } = waiterFor(collector, [running]);
        await expect(waiter.waitFor(["stopped"], systemClock.now() + 5_000)).rejects.toMatchObject({ faultType: "NoPermission" });
    });
});
