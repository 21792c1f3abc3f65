import * as https from "https";
import { VsphereDriver, VsphereTuning, openVsphereDriver } from "../src/drivers/vsphere/driver";
import { systemClock } from "../src/power/clock";
import { ObservedState } from "../src/power/driver";
import { runTransition } from "../src/power/transition";
import { Vcsim, context, credentials, ensurePower, parsedTarget, setBehaviour, vcsimFrom } from "../test/vsphere/vcsim";
import { peerEnvironment } from "./helpers/vsphereEnvironment";

/**
 * How soon the vSphere driver notices that a guest finished its shutdown, and how many SOAP
 * calls one graceful shutdown costs: WaitForUpdatesEx (what the driver does) against a plain
 * 2-second polling loop, on vcsim with a 1 s guest shutdown delay.
 *
 * Lag = when waitForState returned "stopped" − when an observer polling vcsim's control
 * endpoint every 5 ms first read poweredOff (so the lag is accurate to about ±5 ms). Calls = every SOAP request of one session: connect, login, find the
 * VM, read, tools check, ShutdownGuest, the wait, the verify, logout.
 *
 * vcsim 0.24 batches property updates on a 250 ms ticker that starts with each
 * WaitForUpdatesEx call; vCenter pushes them at once. So a shutdown delay that is a multiple of
 * 250 ms lines up with the ticker; the `1.13 s` rows show the unaligned case, closer to the
 * ticker's worst case (the lag there is vcsim's, not the driver's).
 *
 *     npx tsc -p tsconfig.json --outDir /tmp/bench-out && node /tmp/bench-out/bench/vsphere-shutdown-wait.js [runs]
 */

const vm = "DC0_H0_VM1";
const runs = Number(process.argv[2] ?? 12);

interface Sample {
    readonly lagMs: number;
    readonly totalCalls: number;
    readonly waitCalls: number;
    readonly durationMs: number;
}

async function main(): Promise<void> {
    const sim = vcsimFrom(peerEnvironment());
    const scenarios: Array<{ label: string; delay: string; tuning: VsphereTuning }> = [
        { label: "WaitForUpdatesEx, delay 1s", delay: "1s", tuning: {} },
        { label: "poll every 2s,    delay 1s", delay: "1s", tuning: { waitMode: "poll", pollIntervalMs: 2000 } },
        { label: "WaitForUpdatesEx, delay 1.13s", delay: "1130ms", tuning: {} },
        { label: "poll every 2s,    delay 1.13s", delay: "1130ms", tuning: { waitMode: "poll", pollIntervalMs: 2000 } },
    ];
    console.log(`vSphere graceful shutdown against vcsim (${sim.url}), ${runs} runs per row, VM ${vm}`);
    console.log(
        `${"mode".padEnd(30)} ${"lag median".padStart(10)} ${"lag p90".padStart(8)} ${"lag max".padStart(8)} ${"SOAP calls".padStart(10)} ${"in wait".padStart(8)} ${"duration".padStart(9)}`,
    );
    const medians: Record<string, Sample> = {};
    for (const scenario of scenarios) {
        await setBehaviour(sim, vm, { delay: scenario.delay });
        const samples: Sample[] = [];
        for (let i = 0; i < runs; i++) samples.push(await oneShutdown(sim, scenario.tuning));
        const lags = samples.map((s) => s.lagMs);
        if (process.env.BENCH_VERBOSE) console.log(`  lags: ${lags.map((l) => Math.round(l)).join(" ")}`);
        const row: Sample = {
            lagMs: median(lags),
            totalCalls: median(samples.map((s) => s.totalCalls)),
            waitCalls: median(samples.map((s) => s.waitCalls)),
            durationMs: median(samples.map((s) => s.durationMs)),
        };
        medians[scenario.label] = row;
        console.log(
            `${scenario.label.padEnd(30)} ${fmt(row.lagMs).padStart(10)} ${fmt(percentile(lags, 0.9)).padStart(8)} ${fmt(Math.max(...lags)).padStart(8)} ` +
                `${String(row.totalCalls).padStart(10)} ${String(row.waitCalls).padStart(8)} ${fmt(row.durationMs).padStart(9)}`,
        );
    }
    await setBehaviour(sim, vm, {});
    await ensurePower(sim, vm, "running");
    const events = medians[scenarios[0].label];
    const polling = medians[scenarios[1].label];
    console.log(
        `lag ratio polling/events (delay 1s): ${(polling.lagMs / Math.max(1, events.lagMs)).toFixed(1)}x; SOAP calls ${events.totalCalls} vs ${polling.totalCalls}`,
    );
    console.log(`goal: median lag under 100 ms with WaitForUpdatesEx: ${events.lagMs < 100 ? "met" : "not met"} (${fmt(events.lagMs)})`);
}

/** One OffGraceful from running, through the real sequence, on a fresh session. */
async function oneShutdown(sim: Vcsim, tuning: VsphereTuning): Promise<Sample> {
    await ensurePower(sim, vm, "running");
    const stopWatching = new AbortController();
    const poweredOff = watchPowerOff(sim, stopWatching.signal);
    const started = Date.now();
    const driver = await openVsphereDriver(parsedTarget(sim, vm), credentials(sim), context(), tuning);
    let stoppedSeenAt = 0;
    let callsBeforeWait = 0;
    let callsAfterWait = 0;
    const waitForState = driver.waitForState.bind(driver);
    driver.waitForState = async (targets, deadline): Promise<ObservedState> => {
        const before = totalCalls(driver);
        const state = await waitForState(targets, deadline);
        if (state.state === "stopped" && stoppedSeenAt === 0) {
            stoppedSeenAt = Date.now();
            callsBeforeWait = before;
            callsAfterWait = totalCalls(driver);
        }
        return state;
    };
    try {
        const report = await runTransition(driver, systemClock, { desired: "OffGraceful", gracefulTimeoutMs: 30_000 });
        if (report.method !== "graceful") throw new Error(`expected a graceful shutdown, got ${report.method}`);
    } finally {
        await driver.close();
        stopWatching.abort();
    }
    const durationMs = Date.now() - started;
    const poweredOffAt = await poweredOff;
    return { lagMs: stoppedSeenAt - poweredOffAt, totalCalls: totalCalls(driver), waitCalls: callsAfterWait - callsBeforeWait, durationMs };
}

/**
 * Watches the VM through vcsim's control endpoint every 5 ms (an observer outside the driver)
 * and resolves with the first moment it reads poweredOff.
 */
function watchPowerOff(sim: Vcsim, stop: AbortSignal): Promise<number> {
    const agent = new https.Agent({ keepAlive: true, ca: sim.caCert });
    const read = (): Promise<string> =>
        new Promise((resolve, reject) => {
            const request = https.request(`${sim.ctlUrl}/vms`, { agent }, (response) => {
                let body = "";
                response.on("data", (chunk: Buffer) => (body += chunk.toString()));
                response.on("end", () => resolve(body));
            });
            request.on("error", reject);
            request.end();
        });
    return (async () => {
        try {
            while (!stop.aborted) {
                const vms = (JSON.parse(await read()) as { vms: Array<{ name: string; powerState: string }> }).vms;
                if (vms.find((v) => v.name === vm)?.powerState === "poweredOff") return Date.now();
                await systemClock.sleep(5);
            }
            return Number.NaN;
        } finally {
            agent.destroy();
        }
    })();
}

function totalCalls(driver: VsphereDriver): number {
    let total = 0;
    for (const count of driver.soapCalls.values()) total += count;
    return total;
}

function median(values: readonly number[]): number {
    return percentile(values, 0.5);
}

function percentile(values: readonly number[], p: number): number {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

function fmt(ms: number): string {
    return `${Math.round(ms)} ms`;
}

main().catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
});
