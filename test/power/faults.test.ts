import { Driver, GuestShutdownRequest, ObservedState } from "../../src/power/driver";
import { PowerTransitionError, TransientError } from "../../src/power/errors";
import { TransitionReport } from "../../src/power/report";
import { ObservedPowerState } from "../../src/power/states";
import { TransitionRequest, runTransition } from "../../src/power/transition";
import { systemClock } from "../../src/power/clock";
import { FakeClock, FakeDriver, FakeVmBehaviour } from "./fakes";

/** The classes of defect from issue 12, at the level of the sequence (fake clock, fake VM). */

const running: FakeVmBehaviour = { state: "running", guest: "graceful", shutdownDelayMs: 3_000 };

async function run(vm: Partial<FakeVmBehaviour>, request: Partial<TransitionRequest> = {}) {
    const clock = new FakeClock();
    const driver = new FakeDriver(clock, { ...running, ...vm });
    const start = clock.now();
    const report = await runTransition(driver, clock, { desired: "OffGraceful", gracefulTimeoutMs: 60_000, ...request });
    return { report, driver, clock, start };
}

function rejection(attempt: Promise<unknown>): Promise<PowerTransitionError> {
    return attempt.then(
        () => {
            throw new Error("expected the transition to fail");
        },
        (e: unknown) => {
            expect(e).toBeInstanceOf(PowerTransitionError);
            return e as PowerTransitionError;
        },
    );
}

describe("honest reports", () => {
    test("a VM powered off hard by someone else during the wait is not reported graceful", async () => {
        const { report, driver, start } = await run({ guest: "hung", externalOffAt: 1_700_000_010_000 });
        expect(report.method).toBe("externalOff");
        expect(report.notes.join("\n")).toMatch(/powered off hard by someone else/);
        expect(driver.mutations.map((m) => m.op)).toEqual(["requestGuestShutdown"]);
        expect(report.durationMs).toBeLessThan(60_000);
        expect(start).toBe(1_700_000_000_000);
    });

    test("the guest's own shutdown stays graceful", async () => {
        const { report } = await run({});
        expect(report).toMatchObject({ method: "graceful", gracefulAttempts: 1 });
    });
});

describe("the deadline covers exactly the guest's time", () => {
    test("a slow tools check does not eat into the graceful timeout", async () => {
        const { report, driver, start } = await run(
            { guest: "hung", toolsRunning: true, toolsCheckMs: 8_000 },
            { gracefulTimeoutMs: 20_000 },
        );
        const forced = driver.mutations.find((m) => m.op === "powerOffHard");
        expect(report.method).toBe("forced");
        expect(forced?.at).toBe(start + 8_000 + 20_000);
    });
});

describe("transient trouble is retried within the deadline", () => {
    test("a reset on the graceful request is retried, not forced at once", async () => {
        const { report, driver } = await run({ transientRequestFailures: 2 });
        expect(report).toMatchObject({ method: "graceful", gracefulAttempts: 3, firstError: "ECONNRESET on request 1" });
        expect(driver.mutations.map((m) => m.op)).toEqual(["requestGuestShutdown"]);
        expect(report.calls.filter((c) => c.op === "requestGuestShutdown" && !c.ok)).toHaveLength(2);
    });

    test("a request that keeps failing transiently falls back only at the deadline", async () => {
        const { report, driver, start } = await run({ transientRequestFailures: 1_000 }, { gracefulTimeoutMs: 10_000 });
        expect(report).toMatchObject({ method: "forced", fallbackReason: "gracefulRequestFailed" });
        const forced = driver.mutations.find((m) => m.op === "powerOffHard");
        expect(forced?.at).toBeGreaterThanOrEqual(start + 9_000);
    });

    test("a 3-second outage during the wait does not fail the run", async () => {
        const t0 = 1_700_000_000_000;
        const { report } = await run({ guest: "graceful", shutdownDelayMs: 20_000, outage: { from: t0 + 5_000, to: t0 + 8_000 } });
        expect(report).toMatchObject({ method: "graceful", to: "stopped" });
        expect(report.firstError).toMatch(/ECONNREFUSED/);
    });

    test("a refusal that will not change still falls back at once (documented)", async () => {
        const { report, driver, start } = await run({ requestFails: true });
        expect(report.fallbackReason).toBe("gracefulRequestFailed");
        expect(driver.mutations.find((m) => m.op === "powerOffHard")?.at).toBe(start);
    });
});

describe("the graceful request is repeated while the guest shows no sign of stopping", () => {
    test("an ACPI press lost during boot is sent again and the guest stops gracefully", async () => {
        const t0 = 1_700_000_000_000;
        const { report, driver } = await run({ ignoreRequestsUntil: t0 + 10_000 }, { gracefulRepeatMs: 5_000 });
        expect(report.method).toBe("graceful");
        expect(driver.mutations.filter((m) => m.op === "requestGuestShutdown").length).toBeGreaterThanOrEqual(2);
        expect(report.gracefulAttempts).toBeGreaterThanOrEqual(2);
    });
});

describe("verify fails fast when a reached state is lost", () => {
    test("powered on again by someone else after the guest stopped", async () => {
        const clock = new FakeClock();
        const driver = new LosesStateDriver(clock, { ...running });
        const error = await rejection(
            runTransition(driver, clock, { desired: "OffGraceful", gracefulTimeoutMs: 60_000, verifyTimeoutMs: 120_000 }),
        );
        expect(error.message).toMatch(/became running again/);
        const report = error.report as TransitionReport;
        expect(report.durationMs).toBeLessThan(10_000);
    });

    test("seen starting (someone powers it on) after it stopped: fails at once too, no wait for the verify timeout", async () => {
        // libvirt: a `virsh start` right after someone's `virsh destroy` reads "paused (starting up)".
        const clock = new FakeClock();
        const driver = new LosesStateDriver(clock, { ...running }, "starting");
        const error = await rejection(
            runTransition(driver, clock, { desired: "OffGraceful", gracefulTimeoutMs: 60_000, verifyTimeoutMs: 120_000 }),
        );
        expect(error.message).toMatch(/became starting again/);
        expect((error.report as TransitionReport).durationMs).toBeLessThan(10_000);
    });
});

describe("a hard power-off whose call failed but landed", () => {
    test("is reported forced (ours), not graceful or someone else's", async () => {
        // libvirt through a stalled link: `virsh destroy` took effect, its answer never came.
        const clock = new FakeClock();
        const driver = new AnswerLostDriver(clock, { ...running, guest: "hung" });
        const report = await runTransition(driver, clock, { desired: "OffGraceful", gracefulTimeoutMs: 60_000, verifyTimeoutMs: 120_000 });
        expect(report.method).toBe("forced");
        expect(report.fallbackReason).toBe("timeout");
        expect(report.notes.join("\n")).toMatch(/counted as ours/);
    });
});

describe("a graceful request whose call failed but landed", () => {
    test("the guest's own shutdown after it is reported graceful, not 'nothing to do'", async () => {
        // libvirt over SSH: the link reset while `virsh shutdown` was on its way; the guest got it.
        const clock = new FakeClock();
        const driver = new RequestAnswerLostDriver(clock, { ...running });
        const report = await runTransition(driver, clock, { desired: "OffGraceful", gracefulTimeoutMs: 60_000 });
        expect(report.method).toBe("graceful");
        expect(report.stateDetail).toBe("fake:stopped");
        expect(report.notes.join("\n")).toMatch(/the guest shut itself down/);
        expect(driver.mutations.map((m) => m.op)).not.toContain("powerOffHard");
    });
});

describe("time stays bounded with a frozen endpoint", () => {
    test("every call has a wall-clock bound; the run ends with the first error in the report", async () => {
        const frozen = new FrozenDriver();
        const started = Date.now();
        const error = await rejection(
            runTransition(frozen, systemClock, {
                desired: "OffGraceful",
                gracefulTimeoutMs: 300,
                verifyTimeoutMs: 300,
                callTimeoutMs: 200,
            }),
        );
        const elapsed = Date.now() - started;
        const report = error.report as TransitionReport;
        expect(report.firstError).toMatch(/did not answer within/);
        // The read hangs: one call bound, never the sum of every later call's own timeout.
        expect(elapsed).toBeLessThan(300 + 300 + 200 + 1_000);
    });

    test("frozen mid-wait: forced and verified within deadline + verify + grace, first error reported", async () => {
        const frozen = new FrozenDriver(true);
        const started = Date.now();
        const error = await rejection(
            runTransition(frozen, systemClock, {
                desired: "OffGraceful",
                gracefulTimeoutMs: 400,
                verifyTimeoutMs: 400,
                callTimeoutMs: 200,
            }),
        );
        const elapsed = Date.now() - started;
        expect((error.report as TransitionReport).firstError).toMatch(/did not answer within/);
        expect(elapsed).toBeLessThan(400 + 400 + 2 * 200 + 1_000);
    });

    test("an interrupted run ends at once with the report so far", async () => {
        const frozen = new FrozenDriver(true);
        const controller = new AbortController();
        setTimeout(() => controller.abort(new Error("SIGTERM")), 100).unref();
        const error = await rejection(
            runTransition(frozen, systemClock, { desired: "OffGraceful", gracefulTimeoutMs: 60_000, signal: controller.signal }),
        );
        expect(error.message).toMatch(/interrupted: SIGTERM/);
        const report = error.report as TransitionReport;
        expect(report.calls.map((c) => c.op)).toContain("requestGuestShutdown");
        expect(report.durationMs).toBeLessThan(5_000);
    });
});

/** Goes off gracefully, then someone powers it on again before the sequence verifies. */
class LosesStateDriver extends FakeDriver {
    private reached = false;
    constructor(
        clock: FakeClock,
        vm: FakeVmBehaviour,
        private readonly then: ObservedPowerState = "running",
    ) {
        super(clock, vm);
    }
    override async waitForState(targets: readonly ObservedPowerState[], deadline: number): Promise<ObservedState> {
        if (this.reached) {
            this.vm.state = this.then;
            return { state: this.then };
        }
        const state = await super.waitForState(targets, deadline);
        if (state.state === "stopped") this.reached = true;
        return state;
    }
}

/** Powers off hard, then loses the answer (a reset or stalled link after the request went through). */
class AnswerLostDriver extends FakeDriver {
    override async powerOffHard(): Promise<void> {
        await super.powerOffHard();
        throw new TransientError("read ECONNRESET: the answer was lost");
    }
}

/** Delivers every graceful request, then loses its answer. */
class RequestAnswerLostDriver extends FakeDriver {
    override async requestGuestShutdown(): Promise<GuestShutdownRequest> {
        await super.requestGuestShutdown();
        throw new TransientError("read ECONNRESET: the answer was lost");
    }
}

/** An endpoint that stops answering: at once, or after a graceful request was delivered. */
class FrozenDriver implements Driver {
    readonly platform = "frozen";
    readonly vmDescription = "frozen vm";
    constructor(private readonly answersFirst = false) {}
    private readonly never = new Promise<never>(() => undefined);
    private reads = 0;
    async readState(): Promise<ObservedState> {
        if (this.answersFirst && this.reads++ === 0) return { state: "running" };
        return this.never;
    }
    async requestGuestShutdown(): Promise<{ method: string }> {
        if (this.answersFirst) return { method: "acpi" };
        return this.never;
    }
    powerOffHard(): Promise<void> {
        return this.never;
    }
    powerOn(): Promise<void> {
        return this.never;
    }
    waitForState(): Promise<ObservedState> {
        return this.never;
    }
    async close(): Promise<void> {}
}
