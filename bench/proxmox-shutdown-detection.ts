/**
 * One graceful shutdown on Proxmox VE, against the contract server: how many API calls it
 * takes and how long after the guest actually powered off the stop is detected.
 *
 *  - driver:     this package's Proxmox driver through the power sequence (polls status/current
 *                every 1 s, watches the shutdown task for 0.6 s for immediate failures);
 *  - poll 2s:    a plain loop: POST status/shutdown, then GET status/current every 2 s;
 *  - task 1s:    POST status/shutdown, then GET the task's status every 1 s until it stops
 *                (PVE's worker itself notices the exit on its own 1 s poll, so this lags more).
 *
 * Guest shutdown times are spread over 1-5.1 s so the stop falls at every phase of the polling.
 * Prints medians and means; never fails on a number.
 */
import * as https from "https";
import { ProxmoxDriver } from "../src/drivers/proxmox/driver";
import { systemClock } from "../src/power/clock";
import { runTransition } from "../src/power/transition";
import { ProxmoxContractServer } from "../test/contracts/proxmox";

interface Sample {
    readonly lagMs: number;
    readonly calls: number;
}

const trials = Number(process.env.BENCH_TRIALS ?? 8);

async function main(): Promise<void> {
    const server = await ProxmoxContractServer.start();
    const token = server.addToken({ id: "bench@pve!bench", secret: "0b1c2d3e-4f50-4617-8899-aabbccddeeff" });
    const results: Record<string, Sample[]> = { driver: [], "poll 2s": [], "task 1s": [] };
    try {
        for (let i = 0; i < trials; i++) {
            // Irregular steps, so the power-off does not line up with any poller's ticks.
            const delay = 1000 + Math.round((i * 3500) / Math.max(1, trials - 1)) + ((i * 389) % 613);
            const base = 400 + i * 10;
            const [a, b, c] = await Promise.all([
                measure(server, base + 1, delay, () => viaDriver(server, token, base + 1)),
                measure(server, base + 2, delay, () => viaPolling(server, token, base + 2, 2000)),
                measure(server, base + 3, delay, () => viaTask(server, token, base + 3, 1000)),
            ]);
            results.driver.push(a);
            results["poll 2s"].push(b);
            results["task 1s"].push(c);
        }
    } finally {
        await server.stop();
    }
    console.log(`Proxmox graceful shutdown, ${trials} trials, guest power-off after 1.0-5.1 s (contract server, 127.0.0.1)`);
    console.log("approach     detection lag median / mean / max (ms)   API calls median / mean");
    const reference = median(results["poll 2s"].map((s) => s.lagMs));
    for (const [name, samples] of Object.entries(results)) {
        const lags = samples.map((s) => s.lagMs);
        const calls = samples.map((s) => s.calls);
        console.log(
            `${name.padEnd(12)} ${String(median(lags)).padStart(6)} / ${String(mean(lags)).padStart(6)} / ${String(Math.max(...lags)).padStart(6)}` +
                `                   ${String(median(calls)).padStart(4)} / ${mean(calls)}`,
        );
    }
    console.log(`driver lag vs 2 s polling (median): ${(median(results.driver.map((s) => s.lagMs)) / reference).toFixed(2)}x`);
}

/** Runs one approach on its own VM; lag = detection time - the moment the guest powered off. */
async function measure(server: ProxmoxContractServer, vmid: number, delayMs: number, run: () => Promise<number>): Promise<Sample> {
    const vm = server.addVm({ vmid, shutdownDelayMs: delayMs, agentConfigured: true });
    const mine = (path: string): boolean =>
        decodeURIComponent(path).includes(`/qemu/${vmid}/`) || decodeURIComponent(path).includes(`:${vmid}:`);
    const before = server.requests.filter((r) => mine(r.path)).length;
    const detectedAt = await run();
    const stoppedAt = vm.history.find((h) => h.status === "stopped")?.at;
    if (stoppedAt === undefined) throw new Error(`VM ${vmid} never stopped`);
    const calls = server.requests.filter((r) => mine(r.path)).length - before;
    return { lagMs: detectedAt - stoppedAt, calls };
}

async function viaDriver(server: ProxmoxContractServer, token: string, vmid: number): Promise<number> {
    const driver = new ProxmoxDriver(
        { endpoint: server.endpoint, node: "pve1", vmId: vmid, insecure: false, fingerprint: server.certificate.fingerprint256 },
        { apiToken: token },
        { clock: systemClock, log: () => undefined },
    );
    try {
        const report = await runTransition(driver, systemClock, { desired: "OffGraceful", gracefulTimeoutMs: 30_000 });
        const wait = report.phases.find((p) => p.phase === "gracefulWait");
        if (!wait || report.method !== "graceful") throw new Error(`unexpected report: ${report.method}`);
        return Date.parse(report.startedAt) + wait.startMs + wait.durationMs;
    } finally {
        await driver.close();
    }
}

async function viaPolling(server: ProxmoxContractServer, token: string, vmid: number, intervalMs: number): Promise<number> {
    await call(server, token, "POST", `/nodes/pve1/qemu/${vmid}/status/shutdown`, "timeout=30");
    for (;;) {
        await sleep(intervalMs);
        const status = (await call(server, token, "GET", `/nodes/pve1/qemu/${vmid}/status/current`)) as { status: string };
        if (status.status === "stopped") return Date.now();
    }
}

async function viaTask(server: ProxmoxContractServer, token: string, vmid: number, intervalMs: number): Promise<number> {
    const upid = (await call(server, token, "POST", `/nodes/pve1/qemu/${vmid}/status/shutdown`, "timeout=30")) as string;
    for (;;) {
        await sleep(intervalMs);
        const status = (await call(server, token, "GET", `/nodes/pve1/tasks/${encodeURIComponent(upid)}/status`)) as { status: string };
        if (status.status === "stopped") return Date.now();
    }
}

/** A bare HTTPS call, as a hand-written script would make it. */
function call(server: ProxmoxContractServer, token: string, method: string, path: string, body?: string): Promise<unknown> {
    const headers: Record<string, string> = { Authorization: `PVEAPIToken=${token}` };
    if (body !== undefined) headers["Content-Type"] = "application/x-www-form-urlencoded";
    return new Promise((resolve, reject) => {
        const req = https.request(`${server.endpoint}/api2/json${path}`, { method, headers, ca: server.certificate.cert }, (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (c: Buffer) => chunks.push(c));
            res.on("end", () => resolve((JSON.parse(Buffer.concat(chunks).toString("utf8")) as { data: unknown }).data));
        });
        req.on("error", reject);
        req.end(body);
    });
}

function sleep(ms: number): Promise<void> {
    return new Promise((r) => setTimeout(r, ms));
}

function median(values: readonly number[]): number {
    const sorted = [...values].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 ? sorted[mid] : Math.round((sorted[mid - 1] + sorted[mid]) / 2);
}

function mean(values: readonly number[]): number {
    return Math.round(values.reduce((a, b) => a + b, 0) / values.length);
}

main().catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
});
