import { PropertyValues } from "../../src/drivers/vsphere/client";
import { MoRef } from "../../src/drivers/vsphere/soap";
import { PowerStateWaiter, PropertyWatcher } from "../../src/drivers/vsphere/waiter";
import { XmlElement } from "../../src/drivers/vsphere/xml";
import { systemClock } from "../../src/power/clock";
import { VmNotFoundError } from "../../src/power/errors";
import { FakeClock } from "../power/fakes";
import { ScriptedCollector, hostFor, power } from "./scriptedCollector";

/**
 * The shared watcher's own logic, on a scripted PropertyCollector: one long poll for many VMs,
 * answers dispatched per VM, a deadline per waiter, the view batched, a re-login rebuilding the
 * collector, a VM that disappears, and the polling fallback. (vcsim covers the real protocol.)
 */
const vm = (n: number): MoRef => ({ type: "VirtualMachine", value: `vm-${n}` });

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const isOff = (v: ReadonlyMap<string, XmlElement | undefined>): boolean => v.get("runtime.powerState")?.text === "poweredOff";

describe("PropertyWatcher", () => {
    test("one long poll for many VMs: each waiter gets its own VM's change, the view grows in one call", async () => {
        const collector = new ScriptedCollector();
        const watcher = new PropertyWatcher(hostFor(collector));
        const deadline = systemClock.now() + 5_000;
        const waits = [1, 2, 3].map((n) => watcher.waitUntil(vm(n), power("poweredOn"), isOff, deadline));
        await tick();
        const late = watcher.waitUntil(vm(4), power("poweredOn"), isOff, deadline);
        await tick();
        collector.push([
            { obj: vm(2), power: "poweredOff" },
            { obj: vm(9), power: "poweredOff" },
        ]);
        expect((await waits[1]).reached).toBe(true);
        collector.push([
            { obj: vm(1), power: "poweredOff" },
            { obj: vm(3), power: "poweredOff" },
            { obj: vm(4), power: "poweredOff" },
        ]);
        expect(await Promise.all([waits[0], waits[2], late].map(async (w) => (await w).reached))).toEqual([true, true, true]);
        expect(collector.calls.filter((c) => c.startsWith("CreatePropertyCollector"))).toHaveLength(1);
        expect(collector.calls.filter((c) => c.startsWith("CreateFilter"))).toHaveLength(1);
        expect(collector.calls).toContain("CreateListView(vm-1,vm-2,vm-3)");
        expect(collector.calls).toContain("ModifyListView(+vm-4 -)");
        // The loop stopped by itself: nobody waits, so no further poll was sent.
        const polls = collector.calls.filter((c) => c.startsWith("WaitForUpdatesEx")).length;
        await tick();
        expect(collector.calls.filter((c) => c.startsWith("WaitForUpdatesEx")).length).toBe(polls);
        await watcher.shutdown();
        expect(collector.calls.at(-1)).toBe("DestroyPropertyCollector");
    });

    test("a deadline answers its waiter with the latest values and does not cut the poll the others share", async () => {
        const collector = new ScriptedCollector();
        const watcher = new PropertyWatcher(hostFor(collector));
        const started = Date.now();
        const short = watcher.waitUntil(vm(1), power("poweredOn"), isOff, systemClock.now() + 200);
        const long = watcher.waitUntil(vm(2), power("poweredOn"), isOff, systemClock.now() + 5_000);
        const first = await short;
        expect(first.reached).toBe(false);
        expect(first.values.get("runtime.powerState")?.text).toBe("poweredOn");
        expect(Date.now() - started).toBeLessThan(1_000);
        expect(collector.calls).not.toContain("CancelWaitForUpdates");
        collector.push([{ obj: vm(2), power: "poweredOff" }]);
        expect((await long).reached).toBe(true);
        await watcher.shutdown();
    });

    test("release takes a VM out of the view; shutdown cancels a poll still open", async () => {
        const collector = new ScriptedCollector();
        const watcher = new PropertyWatcher(hostFor(collector));
        const a = watcher.waitUntil(vm(1), power("poweredOn"), isOff, systemClock.now() + 5_000);
        const b = watcher.waitUntil(vm(2), power("poweredOn"), isOff, systemClock.now() + 5_000);
        collector.push([{ obj: vm(1), power: "poweredOff" }]);
        await a;
        watcher.release(vm(1));
        await tick();
        await tick();
        expect(collector.calls).toContain("ModifyListView(+ -vm-1)");
        expect(watcher.watching).toBe(1);
        await watcher.shutdown();
        expect((await b).reached).toBe(false);
        expect(collector.calls.slice(-2)).toEqual(["CancelWaitForUpdates", "DestroyPropertyCollector"]);
    });

    test("after a re-login the collector, view and filter are built again and read from version ''", async () => {
        const collector = new ScriptedCollector();
        const host = hostFor(collector);
        const watcher = new PropertyWatcher(host);
        const wait = watcher.waitUntil(vm(1), power("poweredOn"), isOff, systemClock.now() + 5_000);
        await tick();
        collector.push([{ obj: vm(1), power: "poweredOn" }]);
        await tick();
        host.generation++;
        watcher.sessionRenewed();
        await tick();
        collector.push([{ obj: vm(1), kind: "enter", power: "poweredOff" }]);
        expect((await wait).reached).toBe(true);
        expect(collector.calls.filter((c) => c === "CreatePropertyCollector")).toHaveLength(2);
        expect(collector.calls.filter((c) => c === "WaitForUpdatesEx()")).toHaveLength(2);
        await watcher.shutdown();
    });

    test("the leave our own removal causes is not a deletion: a VM waited on again after release keeps waiting", async () => {
        const collector = new ScriptedCollector();
        const watcher = new PropertyWatcher(hostFor(collector));
        const first = watcher.waitUntil(vm(1), power("poweredOn"), isOff, systemClock.now() + 5_000);
        const other = watcher.waitUntil(vm(2), power("poweredOn"), isOff, systemClock.now() + 5_000);
        collector.push([{ obj: vm(1), power: "poweredOff" }]);
        await first;
        watcher.release(vm(1));
        await tick();
        await tick();
        const again = watcher.waitUntil(
            vm(1),
            power("poweredOff"),
            (v) => v.get("runtime.powerState")?.text === "poweredOn",
            systemClock.now() + 5_000,
        );
        await tick();
        collector.push([
            { obj: vm(1), kind: "leave" },
            { obj: vm(1), kind: "enter", power: "poweredOn" },
        ]);
        expect((await again).reached).toBe(true);
        collector.push([{ obj: vm(2), power: "poweredOff" }]);
        expect((await other).reached).toBe(true);
        await watcher.shutdown();
    });

    test("a VM that leaves the view rejects its waiters only", async () => {
        const collector = new ScriptedCollector();
        const watcher = new PropertyWatcher(hostFor(collector));
        const gone = watcher.waitUntil(vm(1), power("poweredOn"), isOff, systemClock.now() + 5_000);
        const other = watcher.waitUntil(vm(2), power("poweredOn"), isOff, systemClock.now() + 5_000);
        collector.push([{ obj: vm(1), kind: "leave" }]);
        await expect(gone).rejects.toThrow(/vm-1 was removed/);
        collector.push([{ obj: vm(2), power: "poweredOff" }]);
        expect((await other).reached).toBe(true);
        await watcher.shutdown();
    });
});

describe("PowerStateWaiter", () => {
    const running = power("poweredOn");
    const stopped = power("poweredOff");

    function waiterFor(
        collector: ScriptedCollector,
        reads: PropertyValues[],
        options: { clock?: FakeClock; mode?: "events" | "poll"; pollIntervalMs?: number } = {},
    ) {
        const host = hostFor(collector, options.clock);
        let readCount = 0;
        const watcher = new PropertyWatcher(host);
        const waiter = new PowerStateWaiter(watcher, vm(1), {
            clock: options.clock ?? systemClock,
            log: host.log,
            read: async () => reads[Math.min(readCount++, reads.length - 1)],
            mode: options.mode,
            pollIntervalMs: options.pollIntervalMs ?? 1000,
        });
        return { waiter, watcher, logs: host.logs, reads: () => readCount };
    }

    test("already there: one read, no watcher", async () => {
        const collector = new ScriptedCollector();
        const { waiter } = waiterFor(collector, [stopped]);
        expect(await waiter.waitFor(["stopped"], systemClock.now() + 5_000)).toEqual({ state: "stopped", detail: "poweredOff" });
        expect(collector.calls).toEqual([]);
    });

    test("a VM that leaves is VmNotFoundError", async () => {
        const collector = new ScriptedCollector();
        const { waiter, watcher } = waiterFor(collector, [running]);
        const wait = waiter.waitFor(["stopped"], systemClock.now() + 5_000);
        await tick();
        collector.push([{ obj: vm(1), kind: "leave" }]);
        await expect(wait).rejects.toBeInstanceOf(VmNotFoundError);
        await watcher.shutdown();
    });

    test.each(["MethodNotFound", "NotSupported"])(
        "%s from the PropertyCollector: polling from then on, said once in the log",
        async (fault) => {
            const collector = new ScriptedCollector(fault);
            const { waiter, logs, reads } = waiterFor(collector, [running, running, running, running, stopped], { pollIntervalMs: 50 });
            const start = Date.now();
            // Read, the watcher fails, a fresh read, then two polls before the third sees it off.
            expect((await waiter.waitFor(["stopped"], systemClock.now() + 60_000)).state).toBe("stopped");
            expect(Date.now() - start).toBeLessThan(2_000);
            expect(logs).toEqual([expect.stringMatching(new RegExp(`does not support CreatePropertyCollector \\(${fault}\\); polling`))]);
            expect(reads()).toBe(5);
            await waiter.waitFor(["stopped"], systemClock.now() + 60_000);
            expect(collector.calls.filter((c) => c === "CreatePropertyCollector")).toHaveLength(1);
        },
    );

    test("polling stops at the deadline with the latest state, never sleeping past it", async () => {
        const clock = new FakeClock();
        const { waiter } = waiterFor(new ScriptedCollector(), [running], { clock, mode: "poll" });
        const start = clock.now();
        expect((await waiter.waitFor(["stopped"], start + 2_500)).state).toBe("running");
        expect(clock.now() - start).toBe(2_500);
    });

    test("other faults are not swallowed", async () => {
        const collector = new ScriptedCollector("NoPermission");
        const { waiter } = waiterFor(collector, [running]);
        await expect(waiter.waitFor(["stopped"], systemClock.now() + 5_000)).rejects.toMatchObject({ faultType: "NoPermission" });
    });
});
