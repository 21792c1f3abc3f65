import fc from "fast-check";
import { InputError } from "../../src/power/errors";
import { FleetDirection, FleetFailurePolicy, FleetMember, FleetOptions, runFleet, tierOrder } from "../../src/power/fleet";
import { runTransition } from "../../src/power/transition";
import { SchedulerClock, TimedDriver } from "./schedulerClock";

interface Spec {
    readonly tier: number;
    readonly endpoint: string;
    /** How long the operation takes on the fake clock. */
    readonly ms: number;
    readonly fails: boolean;
}

const specArb = fc.record<Spec>({
    tier: fc.integer({ min: 0, max: 3 }),
    endpoint: fc.constantFrom("vc-a", "vc-b", "pve"),
    ms: fc.integer({ min: 0, max: 5_000 }),
    fails: fc.boolean(),
});
const fleetArb = fc.array(specArb, { minLength: 1, maxLength: 25 });
const optionsArb = fc.record({
    direction: fc.constantFrom<FleetDirection>("start", "stop"),
    concurrency: fc.integer({ min: 1, max: 6 }),
    perEndpoint: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
    onFailure: fc.constantFrom<FleetFailurePolicy>("halt", "continue"),
});

/** Runs a fleet of timed operations and records, in causal order, when each began and ended. */
async function simulate(specs: readonly Spec[], options: FleetOptions) {
    const clock = new SchedulerClock();
    const members: FleetMember<Spec>[] = specs.map((s, i) => ({ id: `vm-${i}`, tier: s.tier, endpoint: s.endpoint, item: s }));
    const log: { id: string; tier: number; kind: "begin" | "end"; seq: number }[] = [];
    let seq = 0;
    let running = 0;
    let peak = 0;
    const perEndpoint = new Map<string, number>();
    let peakPerEndpoint = 0;
    const report = await clock.run(
        runFleet(members, options, clock, async (m) => {
            log.push({ id: m.id, tier: m.tier, kind: "begin", seq: seq++ });
            running++;
            peak = Math.max(peak, running);
            perEndpoint.set(m.endpoint, (perEndpoint.get(m.endpoint) ?? 0) + 1);
            peakPerEndpoint = Math.max(peakPerEndpoint, perEndpoint.get(m.endpoint) ?? 0);
            try {
                await clock.sleep(m.item.ms);
                if (m.item.fails) throw new Error(`${m.id} failed`);
                return m.id;
            } finally {
                running--;
                perEndpoint.set(m.endpoint, (perEndpoint.get(m.endpoint) ?? 1) - 1);
                log.push({ id: m.id, tier: m.tier, kind: "end", seq: seq++ });
            }
        }),
    );
    return { report, log, peak, peakPerEndpoint, members };
}

describe("fleet runner (property-based, concurrent fake clock)", () => {
    test("tier order holds in both directions: no VM of a tier begins before every VM of the previous tier ended", async () => {
        await fc.assert(
            fc.asyncProperty(fleetArb, optionsArb, async (specs, options) => {
                const { log } = await simulate(specs, { ...options, onFailure: "continue" });
                const order = tierOrder(specs, options.direction);
                const rank = (tier: number): number => order.indexOf(tier);
                for (const begin of log.filter((e) => e.kind === "begin")) {
                    const earlierStillOpen = log.filter((e) => e.kind === "end" && rank(e.tier) < rank(begin.tier) && e.seq > begin.seq);
                    expect(earlierStillOpen).toEqual([]);
                }
                // Every member ran exactly once.
                expect(log.filter((e) => e.kind === "begin")).toHaveLength(specs.length);
            }),
            { numRuns: 150 },
        );
    });

    test("the overall and per-endpoint bounds are never exceeded", async () => {
        await fc.assert(
            fc.asyncProperty(fleetArb, optionsArb, async (specs, options) => {
                const { peak, peakPerEndpoint } = await simulate(specs, options);
                const perEndpoint = options.perEndpoint ?? options.concurrency;
                expect(peak).toBeLessThanOrEqual(options.concurrency);
                expect(peakPerEndpoint).toBeLessThanOrEqual(perEndpoint);
                expect(peak).toBeGreaterThanOrEqual(1);
            }),
            { numRuns: 150 },
        );
    });

    test("bounded, not serialized: with room for everybody a tier takes as long as its slowest member", async () => {
        const specs: Spec[] = Array.from({ length: 10 }, (_, i) => ({ tier: i % 2, endpoint: "vc", ms: 1_000 + i, fails: false }));
        const { report } = await simulate(specs, { direction: "stop", concurrency: 10, onFailure: "halt", perEndpoint: undefined });
        expect(report.tiers.map((t) => [t.tier, t.durationMs])).toEqual([
            [1, 1_009],
            [0, 1_008],
        ]);
        expect(report.totals).toEqual({ done: 10, failed: 0, skipped: 0, durationMs: 2_017 });
    });

    test("halt stops before the next tier; continue runs every tier; the report keeps every member", async () => {
        await fc.assert(
            fc.asyncProperty(fleetArb, optionsArb, async (specs, options) => {
                const { report, log, members } = await simulate(specs, options);
                const order = tierOrder(specs, options.direction);
                const firstFailedTier = order.find((t) => specs.some((s) => s.tier === t && s.fails));
                const began = new Set(log.filter((e) => e.kind === "begin").map((e) => e.id));
                expect(report.members.map((m) => m.id)).toEqual(members.map((m) => m.id));
                for (const [i, m] of report.members.entries()) {
                    const spec = specs[i];
                    const after = firstFailedTier !== undefined && order.indexOf(spec.tier) > order.indexOf(firstFailedTier);
                    if (options.onFailure === "halt" && after) {
                        expect(m.outcome.status).toBe("skipped");
                        expect(began.has(m.id)).toBe(false);
                    } else {
                        expect(m.outcome.status).toBe(spec.fails ? "failed" : "done");
                    }
                }
                const halted = options.onFailure === "halt" && firstFailedTier !== undefined && order.at(-1) !== firstFailedTier;
                expect(report.haltedBeforeTier).toBe(halted ? order[order.indexOf(firstFailedTier as number) + 1] : undefined);
                expect(report.totals.done + report.totals.failed + report.totals.skipped).toBe(specs.length);
            }),
            { numRuns: 150 },
        );
    });

    test("no VM is forced before its own deadline, however many share the clock", async () => {
        const vmArb = fc.record({
            tier: fc.integer({ min: 0, max: 2 }),
            shutdownMs: fc.option(fc.integer({ min: 0, max: 90_000 }), { nil: undefined }),
            timeoutMs: fc.integer({ min: 1_000, max: 60_000 }),
            callMs: fc.integer({ min: 0, max: 500 }),
        });
        await fc.assert(
            fc.asyncProperty(fc.array(vmArb, { minLength: 1, maxLength: 15 }), fc.integer({ min: 1, max: 5 }), async (vms, concurrency) => {
                const clock = new SchedulerClock();
                const drivers = vms.map(
                    (v, i) =>
                        new TimedDriver(`vm-${i}`, clock, { state: "running", shutdownMs: v.shutdownMs, callMs: v.callMs, bootMs: 1_000 }),
                );
                const members = vms.map((v, i) => ({ id: `vm-${i}`, tier: v.tier, endpoint: "vc", item: i }));
                const report = await clock.run(
                    runFleet(members, { direction: "stop", concurrency }, clock, (m) =>
                        runTransition(drivers[m.item], clock, { desired: "OffGraceful", gracefulTimeoutMs: vms[m.item].timeoutMs }),
                    ),
                );
                expect(report.totals.done).toBe(vms.length);
                for (const [i, d] of drivers.entries()) {
                    const asked = d.mutations.find((m) => m.op === "requestGuestShutdown");
                    const forced = d.mutations.find((m) => m.op === "powerOffHard");
                    expect(asked).toBeDefined();
                    const v = vms[i];
                    if (forced) {
                        // Its deadline began when its own sequence did, at most one call before the request.
                        expect(forced.at).toBeGreaterThanOrEqual((asked?.at ?? 0) - v.callMs + v.timeoutMs);
                    }
                    // A guest that finished in time was never forced.
                    if (v.shutdownMs !== undefined && v.shutdownMs + v.callMs < v.timeoutMs) expect(forced).toBeUndefined();
                    expect(d.vm.state).toBe("stopped");
                }
            }),
            { numRuns: 100 },
        );
    });

    test("bad options and members are InputErrors naming the field, before any operation runs", async () => {
        const clock = new SchedulerClock();
        const op = jest.fn(async () => 1);
        const one = [{ id: "a", tier: 0, endpoint: "e", item: 0 }];
        await expect(runFleet(one, { direction: "stop", concurrency: 0 }, clock, op)).rejects.toMatchObject({ field: "concurrency" });
        await expect(runFleet(one, { direction: "stop", concurrency: 1, perEndpoint: 1.5 }, clock, op)).rejects.toBeInstanceOf(InputError);
        await expect(runFleet([...one, ...one], { direction: "stop", concurrency: 1 }, clock, op)).rejects.toMatchObject({
            field: "members.a",
        });
        await expect(runFleet([{ ...one[0], tier: -1 }], { direction: "stop", concurrency: 1 }, clock, op)).rejects.toMatchObject({
            field: "members.a.tier",
        });
        expect(op).not.toHaveBeenCalled();
    });

    test("a throwing progress listener does not break the run", async () => {
        const clock = new SchedulerClock();
        const members = [0, 1, 2].map((i) => ({ id: `vm-${i}`, tier: i, endpoint: "e", item: i }));
        const report = await clock.run(
            runFleet(
                members,
                {
                    direction: "start",
                    concurrency: 2,
                    onEvent: () => {
                        throw new Error("listener broke");
                    },
                },
                clock,
                async (m) => m.item,
            ),
        );
        expect(report.totals.done).toBe(3);
    });
});
