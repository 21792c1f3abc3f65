import fc from "fast-check";
import { PowerTransitionError } from "../../src/power/errors";
import { isSatisfied } from "../../src/power/states";
import { runTransition } from "../../src/power/transition";
import { FakeClock, FakeDriver, FakeVmBehaviour } from "./fakes";

const vmArb = fc.record<FakeVmBehaviour>({
    state: fc.constantFrom("running", "stopped", "paused", "deallocated"),
    guest: fc.constantFrom("graceful", "hung"),
    shutdownDelayMs: fc.integer({ min: 0, max: 600_000 }),
    toolsRunning: fc.option(fc.boolean(), { nil: undefined }),
    requestFails: fc.boolean(),
    callMs: fc.integer({ min: 0, max: 2_000 }),
    supportsDeallocate: fc.boolean(),
});
const requestArb = fc.record({
    desired: fc.constantFrom("On", "Off", "OffGraceful", "Deallocated" as const),
    gracefulTimeoutMs: fc.integer({ min: 1, max: 600_000 }),
    force: fc.boolean(),
});

describe("sequence invariants (property-based)", () => {
    test("never forced before the deadline unless graceful was impossible or Off was asked", async () => {
        await fc.assert(
            fc.asyncProperty(vmArb, requestArb, async (vm, request) => {
                const clock = new FakeClock();
                const start = clock.now();
                const driver = new FakeDriver(clock, { ...vm });
                const report = await runTransition(driver, clock, request).catch((e: unknown) =>
                    e instanceof PowerTransitionError ? undefined : Promise.reject(e),
                );
                const forced = driver.mutations.find((m) => m.op === "powerOffHard");
                if (!forced || request.desired === "Off") return;
                if (request.desired === "Deallocated" || report?.fallbackReason !== "timeout") {
                    // Forced early only for a reason the report names.
                    if (forced.at < start + request.gracefulTimeoutMs) {
                        expect(["toolsUnavailable", "gracefulRequestFailed", "guestFrozen"]).toContain(report?.fallbackReason);
                    }
                    return;
                }
                expect(forced.at).toBeGreaterThanOrEqual(start + request.gracefulTimeoutMs);
            }),
            { numRuns: 400 },
        );
    });

    test("always ends in the target state, or throws", async () => {
        await fc.assert(
            fc.asyncProperty(vmArb, requestArb, async (vm, request) => {
                const clock = new FakeClock();
                const driver = new FakeDriver(clock, { ...vm });
                try {
                    const report = await runTransition(driver, clock, request);
                    expect(isSatisfied(request.desired, report.to)).toBe(true);
                    expect(isSatisfied(request.desired, driver.vm.state)).toBe(true);
                } catch (e) {
                    expect(e).toBeInstanceOf(PowerTransitionError);
                }
            }),
            { numRuns: 400 },
        );
    });

    test("idempotent: a second run changes nothing", async () => {
        await fc.assert(
            fc.asyncProperty(vmArb, requestArb, async (vm, request) => {
                const clock = new FakeClock();
                const driver = new FakeDriver(clock, { ...vm });
                const first = await runTransition(driver, clock, request).catch(() => undefined);
                if (!first) return;
                const before = driver.mutations.length;
                const second = await runTransition(driver, clock, request);
                expect(second.method).toBe("none");
                expect(driver.mutations.length).toBe(before);
            }),
            { numRuns: 300 },
        );
    });
});
