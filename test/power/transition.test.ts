import { PowerTransitionError } from "../../src/power/errors";
import { TransitionReport } from "../../src/power/report";
import { TransitionRequest, runTransition } from "../../src/power/transition";
import { FakeClock, FakeDriver, FakeVmBehaviour } from "./fakes";

const running: FakeVmBehaviour = { state: "running", guest: "graceful", shutdownDelayMs: 3_000 };

async function run(vm: Partial<FakeVmBehaviour>, request: Partial<TransitionRequest> & Pick<TransitionRequest, "desired">) {
    const clock = new FakeClock();
    const driver = new FakeDriver(clock, { ...running, ...vm });
    const start = clock.now();
    const report = await runTransition(driver, clock, { gracefulTimeoutMs: 60_000, ...request });
    return { report, driver, clock, start };
}

function ops(report: TransitionReport): string[] {
    return report.calls.map((c) => c.op);
}

describe("runTransition", () => {
    test("does nothing when the VM is already where it should be", async () => {
        const { report, driver } = await run({ state: "stopped" }, { desired: "OffGraceful" });
        expect(report.method).toBe("none");
        expect(ops(report)).toEqual(["readState"]);
        expect(driver.mutations).toEqual([]);
    });

    test("a VM observed off satisfies both Off and OffGraceful", async () => {
        for (const desired of ["Off", "OffGraceful"] as const) {
            const { report } = await run({ state: "stopped" }, { desired });
            expect(report.method).toBe("none");
        }
    });

    test("graceful shutdown that completes before the deadline is not forced", async () => {
        const { report, driver } = await run({}, { desired: "OffGraceful", gracefulTimeoutMs: 10_000 });
        expect(report).toMatchObject({ from: "running", to: "stopped", method: "graceful", gracefulMethod: "fake-acpi" });
        expect(report.fallbackReason).toBeUndefined();
        expect(driver.mutations.map((m) => m.op)).toEqual(["requestGuestShutdown"]);
        expect(report.durationMs).toBe(3_000);
        expect(ops(report)).toEqual(["readState", "requestGuestShutdown", "waitForState", "waitForState"]);
    });

    test("a hung guest is forced at the deadline, not before, and the report says why", async () => {
        const { report, driver, start } = await run({ guest: "hung" }, { desired: "OffGraceful", gracefulTimeoutMs: 120_000 });
        expect(report).toMatchObject({ method: "forced", fallbackReason: "timeout", to: "stopped" });
        expect(report.fallbackDetail).toContain("120000 ms");
        const forced = driver.mutations.find((m) => m.op === "powerOffHard");
        expect(forced?.at).toBe(start + 120_000);
        expect(report.phases.map((p) => p.phase)).toEqual(["read", "gracefulRequest", "gracefulWait", "hardPowerOff", "verify"]);
    });

    test("tools not running: forced at once, reason toolsUnavailable", async () => {
        const { report, driver, start } = await run({ toolsRunning: false }, { desired: "OffGraceful" });
        expect(report).toMatchObject({ method: "forced", fallbackReason: "toolsUnavailable", guestTools: "guestToolsNotRunning" });
        expect(driver.mutations).toEqual([{ op: "powerOffHard", at: start }]);
    });

    test("tools running: checked, then graceful", async () => {
        const { report } = await run({ toolsRunning: true }, { desired: "OffGraceful" });
        expect(report).toMatchObject({ method: "graceful", guestTools: "guestToolsRunning" });
        expect(ops(report)[1]).toBe("checkGuestTools");
    });

    test("a failing graceful request falls back with its message", async () => {
        const { report } = await run({ requestFails: true }, { desired: "OffGraceful" });
        expect(report).toMatchObject({
            method: "forced",
            fallbackReason: "gracefulRequestFailed",
            fallbackDetail: "SystemError: shutdown refused",
        });
    });

    test("with forcing disabled, a hung guest fails the transition and stays running", async () => {
        const clock = new FakeClock();
        const driver = new FakeDriver(clock, { ...running, guest: "hung" });
        const attempt = runTransition(driver, clock, { desired: "OffGraceful", gracefulTimeoutMs: 5_000, force: false });
        await expect(attempt).rejects.toThrow(/did not complete \(timeout.*forcing is disabled/);
        await expect(attempt).rejects.toBeInstanceOf(PowerTransitionError);
        expect(driver.vm.state).toBe("running");
        expect(driver.mutations.map((m) => m.op)).toEqual(["requestGuestShutdown"]);
    });

    test("a guest that finishes exactly at the deadline counts as graceful", async () => {
        const clock = new FakeClock();
        const deadline = clock.now() + 10_000;
        const driver = new FakeDriver(clock, { ...running, guest: "hung", offAt: deadline });
        // The wait returns at the deadline still running; the hard power-off then finds it off.
        const realWait = driver.waitForState.bind(driver);
        driver.waitForState = async (_targets, until) => {
            driver.waitForState = realWait;
            clock.advanceTo(until);
            return { state: "running" };
        };
        const report = await runTransition(driver, clock, { desired: "OffGraceful", gracefulTimeoutMs: 10_000 });
        expect(report.method).toBe("graceful");
        expect(report.fallbackReason).toBeUndefined();
        expect(report.notes.join()).toContain("finished shutting down at the deadline");
        expect(driver.mutations.map((m) => m.op)).toEqual(["requestGuestShutdown"]);
    });

    test("a VM found already off after a tools-unavailable fallback is not reported forced (issue 18)", async () => {
        const clock = new FakeClock();
        // The guest stops by itself (its own shutdown, tools already gone) right after the tools check.
        const driver = new FakeDriver(clock, { ...running, toolsRunning: false, offAt: clock.now() + 1 });
        const realCheck = driver.checkGuestTools!.bind(driver);
        driver.checkGuestTools = async () => {
            const status = await realCheck();
            clock.advanceTo(clock.now() + 1);
            return status;
        };
        const report = await runTransition(driver, clock, { desired: "OffGraceful", gracefulTimeoutMs: 10_000 });
        expect(report.to).toBe("stopped");
        expect(report.method).toBe("none");
        expect(report.fallbackReason).toBe("toolsUnavailable");
        expect(report.notes.join()).toContain("already off when the hard power-off was tried (after toolsUnavailable); nothing was forced");
        expect(driver.mutations.map((m) => m.op)).toEqual([]);
    });

    test("Off powers off hard without asking the guest", async () => {
        const { report, driver } = await run({}, { desired: "Off" });
        expect(report).toMatchObject({ method: "forced", to: "stopped" });
        expect(report.fallbackReason).toBeUndefined();
        expect(driver.mutations.map((m) => m.op)).toEqual(["powerOffHard"]);
    });

    test("On powers on a stopped VM", async () => {
        const { report } = await run({ state: "stopped" }, { desired: "On" });
        expect(report).toMatchObject({ method: "powerOn", from: "stopped", to: "running" });
    });

    test("a paused VM cannot run a shutdown: forced with reason guestFrozen", async () => {
        const { report } = await run({ state: "paused" }, { desired: "OffGraceful" });
        expect(report).toMatchObject({ method: "forced", fallbackReason: "guestFrozen" });
    });

    test("Deallocated stops gracefully, then deallocates", async () => {
        const { report, driver } = await run({ supportsDeallocate: true }, { desired: "Deallocated" });
        expect(report).toMatchObject({ method: "graceful", to: "deallocated" });
        expect(driver.mutations.map((m) => m.op)).toEqual(["requestGuestShutdown", "deallocate"]);
    });

    test("Deallocated on a stopped VM only deallocates", async () => {
        const { report } = await run({ state: "stopped", supportsDeallocate: true }, { desired: "Deallocated" });
        expect(report.method).toBe("deallocate");
    });

    test("Deallocated where the platform cannot deallocate is an error", async () => {
        await expect(run({}, { desired: "Deallocated" })).rejects.toThrow(/cannot be deallocated/);
    });

    test("an unknown state is refused before anything is done", async () => {
        const clock = new FakeClock();
        const driver = new FakeDriver(clock, { ...running, state: "unknown" });
        await expect(runTransition(driver, clock, { desired: "Off", gracefulTimeoutMs: 1_000 })).rejects.toThrow(/cannot tell whether/);
        expect(driver.mutations).toEqual([]);
    });

    test("a missing VM is reported as such, not as a fallback", async () => {
        await expect(run({ missing: true }, { desired: "OffGraceful" })).rejects.toThrow(/was not found/);
    });

    test("a transition in progress is waited for before deciding", async () => {
        const clock = new FakeClock();
        const driver = new FakeDriver(clock, { ...running, state: "stopping" });
        const realWait = driver.waitForState.bind(driver);
        driver.waitForState = async () => {
            driver.waitForState = realWait;
            clock.advanceTo(clock.now() + 2_000);
            driver.vm.state = "stopped";
            return { state: "stopped" };
        };
        const report = await runTransition(driver, clock, { desired: "On", gracefulTimeoutMs: 1_000 });
        expect(report.phases[1].phase).toBe("settle");
        expect(report.method).toBe("powerOn");
    });

    test("progress is reported with the graceful deadline", async () => {
        const phases: { phase: string; deadline?: number }[] = [];
        const clock = new FakeClock();
        const driver = new FakeDriver(clock, { ...running });
        await runTransition(driver, clock, { desired: "OffGraceful", gracefulTimeoutMs: 9_000, onProgress: (p) => phases.push(p) });
        const wait = phases.find((p) => p.phase === "gracefulWait");
        expect(wait?.deadline).toBe(1_700_000_000_000 + 9_000);
    });
});
