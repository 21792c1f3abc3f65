import { FleetAction, FleetVm, FleetVmResult, directionOf, memberReports, runFleetOperation } from "../operations/fleet";
import { cleanupBoundMs, closeSessionsWithin, withDriver } from "../operations/run";
import { SessionPool } from "../operations/sessions";
import { FleetReport, tierOrder } from "../power/fleet";
import { summarizeReport } from "../power/report";
import { ObservedPowerState, isSatisfied } from "../power/states";
import { CliRequest } from "./args";
import { exitCodeFor, exitCodes } from "./exitCodes";
import { FleetFile } from "./fleetFile";
import { ProgressStream } from "./progress";

/** `--fleet`: many VMs in tiers. Output goes to stdout (report) and stderr (progress). */
export interface FleetIo {
    readonly stdout: { write(text: string): void };
    readonly stderr: ProgressStream;
    readonly env: NodeJS.ProcessEnv;
}

/**
 * Reads of a plan at once: they are light, but a 1,000-VM libvirt fleet must not start 1,000
 * virsh processes, nor a shared session carry 1,000 requests at the same moment.
 */
const planReadConcurrency = 16;

/** A pipeline sees a line at least this often while VMs run, so it can tell waiting from hanging. */
const defaultHeartbeatMs = 10_000;

export function fleetAction(request: CliRequest): FleetAction | undefined {
    if (request.command === "restart") return "Restart";
    return request.desired;
}

export async function runFleetCli(request: CliRequest, fleet: FleetFile, io: FleetIo): Promise<number> {
    const action = fleetAction(request);
    if (action === undefined || request.dryRun) return plan(request, fleet, io, action);
    const concurrency = request.concurrency ?? fleet.concurrency ?? 1;
    const started = Date.now();
    const line = (body: Record<string, unknown>): void => {
        if (request.progressJson) io.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), ...body })}\n`);
    };
    const running = new Set<string>();
    const counts = { done: 0, failed: 0, skipped: 0 };
    const heartbeatMs = Number(io.env.GRACEFUL_VM_HEARTBEAT_MS) || defaultHeartbeatMs;
    const heartbeat = request.progressJson
        ? setInterval(() => line({ type: "heartbeat", elapsedMs: Date.now() - started, running: [...running], ...counts }), heartbeatMs)
        : undefined;
    let report: FleetReport<FleetVmResult>;
    try {
        report = await runFleetOperation(fleet.vms, {
            action,
            concurrency,
            perEndpoint: request.perEndpoint ?? fleet.perEndpoint,
            onFailure: request.onFailure ?? fleet.onFailure,
            log: (m) => {
                if (!request.quiet && !request.progressJson) io.stderr.write(`graceful-vm: ${m}\n`);
            },
            onFleetEvent: (event) => {
                if (event.kind === "started") running.add(event.id);
                if (event.kind === "finished") {
                    running.delete(event.id);
                    counts[event.ok ? "done" : "failed"]++;
                    if (!request.quiet && !request.progressJson) {
                        io.stderr.write(`graceful-vm: ${event.id} ${event.ok ? "done" : "FAILED"} (${(event.atMs / 1000).toFixed(1)}s)\n`);
                    }
                }
                line({ type: event.kind, ...event });
            },
            onVmProgress: (vm, step, progress) => line({ type: "phase", vm, step, phase: progress.phase, elapsedMs: progress.elapsedMs }),
        });
    } finally {
        if (heartbeat) clearInterval(heartbeat);
    }
    const code = exitCodeOf(report);
    line({ type: "summary", ...report.totals, exitCode: code });
    io.stdout.write(
        request.json ? `${JSON.stringify(jsonReport(action, concurrency, fleet, report, code), null, 2)}\n` : textReport(report),
    );
    return code;
}

/** 1 when any VM failed (or was skipped after a failure), else 3 when any graceful stop was forced, else 0. */
export function exitCodeOf(report: FleetReport<FleetVmResult>): number {
    if (report.totals.failed > 0 || report.totals.skipped > 0) return exitCodes.failure;
    const forced = report.members.some((m) => memberReports(m.outcome).some((r) => exitCodeFor(r) === exitCodes.forced));
    return forced ? exitCodes.forced : exitCodes.ok;
}

function jsonReport(action: FleetAction, concurrency: number, fleet: FleetFile, report: FleetReport<FleetVmResult>, exitCode: number) {
    return {
        action,
        direction: report.direction,
        concurrency,
        tiers: report.tiers.map((t) => ({ ...t, name: fleet.tierNames[t.tier] })),
        vms: report.members.map((m) => ({
            name: m.id,
            tier: m.tier,
            status: m.outcome.status,
            ...(m.startMs !== undefined ? { startMs: m.startMs, durationMs: m.durationMs } : {}),
            ...(m.outcome.status === "failed" ? { error: m.outcome.error.message } : {}),
            ...(m.outcome.status === "skipped" ? { reason: m.outcome.reason } : {}),
            reports: memberReports(m.outcome),
        })),
        totals: report.totals,
        ...(report.haltedBeforeTier !== undefined ? { haltedBeforeTier: report.haltedBeforeTier } : {}),
        exitCode,
    };
}

function textReport(report: FleetReport<FleetVmResult>): string {
    const lines: string[] = [];
    for (const tier of report.tiers) {
        lines.push(
            `tier ${tier.tier}: ${tier.done} done, ${tier.failed} failed, ${tier.skipped} skipped in ${(tier.durationMs / 1000).toFixed(1)}s`,
        );
        for (const m of report.members.filter((x) => x.tier === tier.tier)) {
            const reports = memberReports(m.outcome).map(summarizeReport);
            if (m.outcome.status === "skipped") lines.push(`  ${m.id}: skipped (${m.outcome.reason})`);
            else if (m.outcome.status === "failed") lines.push(`  ${m.id}: FAILED: ${m.outcome.error.message}`);
            else lines.push(...reports.map((r) => `  ${r}`));
        }
    }
    const t = report.totals;
    lines.push(`${t.done} done, ${t.failed} failed, ${t.skipped} skipped in ${(t.durationMs / 1000).toFixed(1)}s`);
    return `${lines.join("\n")}\n`;
}

/**
 * `status --fleet` and `--dry-run`: reads each VM's state (read-only calls) and says, tier by
 * tier in the order a run would take, what a run would do. Never changes a VM.
 */
async function plan(request: CliRequest, fleet: FleetFile, io: FleetIo, action: FleetAction | undefined): Promise<number> {
    const direction = directionOf(action ?? "On");
    // One session per endpoint for the reads too: a dry run of 200 VMs logs in once.
    const sessions = new SessionPool();
    const states = await mapConcurrent(fleet.vms, planReadConcurrency, async (vm) => {
        try {
            const read = await withDriver(vm.inputs, { sessions }, (driver) => driver.readState());
            return { state: read.state, detail: read.detail };
        } catch (e) {
            return { state: "unknown" as ObservedPowerState, error: e instanceof Error ? e.message : String(e) };
        }
    }).finally(() => closeSessionsWithin(sessions, cleanupBoundMs));
    const entries = tierOrder(fleet.vms, direction).flatMap((tier) =>
        fleet.vms
            .map((vm, i) => ({ vm, ...states[i] }))
            .filter((e) => e.vm.tier === tier)
            .map((e) => ({
                name: e.vm.name,
                tier: e.vm.tier,
                tierName: fleet.tierNames[e.vm.tier],
                state: e.state,
                ...(e.detail ? { detail: e.detail } : {}),
                ...(e.error ? { error: e.error } : {}),
                ...(action !== undefined ? { wouldDo: wouldDo(action, e.vm, e.state) } : {}),
            })),
    );
    const failed = entries.some((e) => "error" in e);
    if (request.json) {
        io.stdout.write(
            `${JSON.stringify({ ...(action !== undefined ? { action, direction, dryRun: true } : {}), vms: entries }, null, 2)}\n`,
        );
    } else {
        for (const e of entries) {
            const doing = "wouldDo" in e ? ` -> ${e.wouldDo}` : "";
            io.stdout.write(`tier ${e.tier} (${e.tierName}) ${e.name}: ${e.state}${e.error ? ` (${e.error})` : ""}${doing}\n`);
        }
    }
    return failed ? exitCodes.failure : exitCodes.ok;
}

function wouldDo(action: FleetAction, vm: FleetVm, state: ObservedPowerState): string {
    if (action === "Restart") {
        return state === "running"
            ? `graceful shutdown (hard power-off after ${vm.inputs.gracefulShutdownTimeout}), then power on`
            : "power on";
    }
    if (isSatisfied(action, state)) return "nothing";
    switch (action) {
        case "On":
            return "power on";
        case "Off":
            return "hard power-off";
        case "OffGraceful":
            return `graceful shutdown${vm.inputs.forceAfterTimeout ? `, hard power-off after ${vm.inputs.gracefulShutdownTimeout}` : ""}`;
        case "Deallocated":
            return "graceful shutdown, then deallocate";
    }
}

/** `fn` over `items` with at most `limit` running at once, results in the items' order. */
async function mapConcurrent<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
    const results = new Array<R>(items.length);
    let next = 0;
    const worker = async (): Promise<void> => {
        while (next < items.length) {
            const index = next++;
            results[index] = await fn(items[index]);
        }
    };
    await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
    return results;
}
