import { exitCodeFor, exitCodes } from "../../src/cli/exitCodes";
import { cleanupBoundMs } from "../../src/operations/run";
import { systemClock } from "../../src/power/clock";
import { Driver } from "../../src/power/driver";
import { PowerTransitionError } from "../../src/power/errors";
import { TransitionReport } from "../../src/power/report";
import { runTransition } from "../../src/power/transition";
import { describeWithPeer } from "../helpers/peers";
import { ContractCase, Switch, contractCases, msOn } from "./cases";
import { Platform, PlatformEnv, Timing, timing } from "./platforms";

/**
 * The driver contract suite: one table of cases (cases.ts), run against every platform's peer
 * or contract server through our fault proxy (contract.test.ts, and one file per real peer so
 * that they run beside each other). Every case checks the same invariants:
 *   1. no hard power-off before the graceful deadline unless graceful was impossible;
 *   2. the report's method and the CLI exit code say what really happened;
 *   3. the VM ends in the target state, or the run fails with a clear error;
 *   4. the whole run ends within the stated bound (below).
 */

/**
 * The stated bound of one run: the read and tools check (one call bound each, plus one retry
 * of the read), the guest's time, the verify budget (hard power-off and verification share
 * it), and the clean-up bound. Jitter of a loaded 2-core machine on top.
 */
const runBoundMs = (t: Timing): number => 3 * t.callTimeoutMs + t.gracefulTimeoutMs + t.verifyTimeoutMs + cleanupBoundMs + 1_500;
/** Fallbacks that may power off before the deadline (documented: graceful was impossible). */
const immediateFallbacks = ["toolsUnavailable", "gracefulRequestFailed", "guestFrozen"];

interface Outcome {
    readonly report?: TransitionReport;
    readonly error?: Error;
    readonly elapsedMs: number;
}

async function closeCapped(driver: Driver): Promise<void> {
    await Promise.race([driver.close().catch(() => undefined), new Promise((r) => setTimeout(r, cleanupBoundMs).unref())]);
}

async function runOnce(env: PlatformEnv, faults: ContractCase["faults"], signal?: AbortSignal): Promise<Outcome> {
    const t = env.timing ?? timing;
    const driver = env.driver();
    const started = Date.now();
    const timers: NodeJS.Timeout[] = [];
    const schedule = (list: ContractCase["faults"]): void => {
        for (const f of list) timers.push(setTimeout(() => void Promise.resolve(f.apply(env, t)).catch(() => undefined), msOn(f.at, t)));
    };
    // Faults past 0 count from the graceful wait on platforms that ask for it (a slow login).
    const fromRequest = t.faultsFrom === "wait" ? faults.filter((f) => msOn(f.at, t) > 0) : [];
    schedule(faults.filter((f) => !fromRequest.includes(f)));
    let requested = false;
    try {
        const report = await runTransition(driver, systemClock, {
            desired: "OffGraceful",
            gracefulTimeoutMs: t.gracefulTimeoutMs,
            verifyTimeoutMs: t.verifyTimeoutMs,
            callTimeoutMs: t.callTimeoutMs,
            gracefulRepeatMs: t.gracefulRepeatMs ?? 700,
            signal,
            onProgress: (p) => {
                if (p.phase !== "gracefulWait" || requested) return;
                requested = true;
                schedule(fromRequest);
            },
        });
        await closeCapped(driver);
        return { report, elapsedMs: Date.now() - started };
    } catch (e) {
        await closeCapped(driver);
        return { error: e as Error, elapsedMs: Date.now() - started };
    } finally {
        timers.forEach(clearTimeout);
    }
}

function reportOf(outcome: Outcome): TransitionReport | undefined {
    if (outcome.report) return outcome.report;
    return outcome.error instanceof PowerTransitionError ? (outcome.error.report as TransitionReport) : undefined;
}

/** Invariant 1, from the report's own timings. */
function expectNoEarlyHardOff(report: TransitionReport | undefined): void {
    if (!report) return;
    const hardOff = report.calls.find((c) => c.op === "powerOffHard");
    const request = report.phases.find((p) => p.phase === "gracefulRequest");
    if (!hardOff || !request || (report.fallbackReason && immediateFallbacks.includes(report.fallbackReason))) {
        expect(hardOff === undefined || request === undefined || immediateFallbacks.includes(report.fallbackReason ?? "")).toBe(true);
        return;
    }
    expect(hardOff.startMs).toBeGreaterThanOrEqual(request.startMs + report.gracefulTimeoutMs - 50);
}

const counts: Record<string, { run: number; passed: number }> = {};

/** Every switch the case uses: its own `needs` and its faults'. */
function switchesOf(c: ContractCase): readonly Switch[] {
    const own = c.needs === undefined ? [] : typeof c.needs === "string" ? [c.needs] : c.needs;
    return [...own, ...c.faults.flatMap((f) => (f.needs ? [f.needs] : []))];
}

function applies(platform: Platform, env: PlatformEnv, c: ContractCase): boolean {
    if (c.only && !c.only.includes(platform.name)) return false;
    return switchesOf(c).every((s) => env[s] !== undefined);
}

let countsPrinted = false;

/** Once per jest file: the per-platform counts of the cases run in it. */
function printCountsAfterAll(): void {
    if (countsPrinted) return;
    countsPrinted = true;
    afterAll(() => {
        const lines = Object.entries(counts).map(([name, c]) => `${name}: ${c.passed}/${c.run} contract cases passed`);
        process.stdout.write(`\ndriver contract suite\n${lines.join("\n")}\n`);
    });
}

/** The table against one platform: one test per case (a case it has no switch for passes as not applicable). */
export function describeContract(platform: Platform): void {
    printCountsAfterAll();
    const name = platform.name;
    const title = `driver contract: ${name}`;
    // A platform on a peer (vSphere's vcsim) skips where the peer is absent and fails on CI.
    if (platform.peer) describeWithPeer(title, platform.peer.name, platform.peer.variables, () => contractTests(name, platform));
    else describe(title, () => contractTests(name, platform));
}

function contractTests(name: string, platform: Platform): void {
    counts[name] = { run: 0, passed: 0 };
    test.each(contractCases.map((c) => [c.name, c] as const))(
        "%s",
        async (_title, c) => {
            // Not even started: a variant that runs a few cases of the table only.
            if (platform.onlyCases && !platform.onlyCases.includes(c.name)) {
                expect(platform.onlyCases).not.toContain(c.name);
                return;
            }
            // A switch the platform says it lacks, or a case it leaves to another family: not
            // applicable, without starting its guest.
            if (
                (c.only && !c.only.includes(name)) ||
                platform.leaves?.(c) ||
                (platform.switches && !switchesOf(c).every((s) => platform.switches?.includes(s)))
            ) {
                expect(c.only !== undefined || platform.leaves !== undefined || switchesOf(c).length > 0).toBe(true);
                return;
            }
            const env = await platform.start(c.guest);
            const t = env.timing ?? timing;
            try {
                if (!applies(platform, env, c)) {
                    expect(c.only !== undefined || switchesOf(c).length > 0).toBe(true);
                    return;
                }
                counts[name].run++;
                let outcome: Outcome;
                if (c.expect[0] === "interruptedThenDone") {
                    const controller = new AbortController();
                    setTimeout(() => controller.abort(new Error("SIGINT")), 600).unref();
                    const first = await runOnce(env, c.faults, controller.signal);
                    expect(first.error).toBeInstanceOf(PowerTransitionError);
                    expect(first.error?.message).toMatch(/interrupted/);
                    expect(first.elapsedMs).toBeLessThan(600 + cleanupBoundMs + t.callTimeoutMs);
                    outcome = await runOnce(env, []);
                    expect(outcome.error).toBeUndefined();
                    expect(["graceful", "forced", "none"]).toContain(outcome.report?.method);
                } else {
                    outcome = await runOnce(env, c.faults);
                    const report = reportOf(outcome);
                    if (process.env.CONTRACT_DEBUG) {
                        const phases = report?.phases.map((p) => `${p.phase} ${p.startMs}+${p.durationMs}`).join(", ");
                        process.stderr.write(
                            `${name} / ${c.name}: ${outcome.elapsedMs} ms, ${report?.method ?? outcome.error?.message}: ${phases}\n`,
                        );
                    }
                    const got = outcome.error ? "fails" : (outcome.report?.method ?? "none");
                    if (!c.expect.includes(got)) {
                        throw new Error(
                            `expected ${c.expect.join(" or ")}, got ${got}: ${outcome.error?.message ?? ""}\n${JSON.stringify(report, null, 1)}`,
                        );
                    }
                    expect(c.expect).toContain(got);
                    // 2. the exit code follows the method.
                    if (outcome.report) {
                        const code = exitCodeFor(outcome.report);
                        expect(code).toBe(["forced", "externalOff"].includes(outcome.report.method) ? exitCodes.forced : exitCodes.ok);
                        // 3. a success ends off, on the platform too.
                        expect(["stopped", "deallocated"]).toContain(outcome.report.to);
                        if (!c.othersActAfter) expect(await env.peerState()).toBe("stopped");
                    } else {
                        // 3. a failure says why, with the first error in the report when there is one.
                        expect(outcome.error?.message.length).toBeGreaterThan(10);
                        if (report && report.calls.some((call) => !call.ok)) expect(report.firstError).toBeDefined();
                    }
                    // 1. no hard power-off before the deadline unless graceful was impossible.
                    expectNoEarlyHardOff(report);
                }
                // 4. bounded time.
                expect(outcome.elapsedMs).toBeLessThan(runBoundMs(t));
                counts[name].passed++;
            } finally {
                await env.close();
            }
        },
        60_000,
    );
}
