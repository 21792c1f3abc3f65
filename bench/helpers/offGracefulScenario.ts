import { loadDriverModule } from "../../src/drivers/registry";
import { runFleetOperation } from "../../src/operations/fleet";
import { VmPowerInputs } from "../../src/operations/inputs";
import { transition } from "../../src/operations/run";
import { SessionPool } from "../../src/operations/sessions";

/**
 * How N VMs go to OffGraceful in a benchmark:
 * - `fleet`: one fleet run, one shared session per endpoint (what GracefulVmGroup and
 *   `--fleet` do);
 * - `fleet-own`: one fleet run whose VMs each connect on their own (sharing switched off);
 * - `independent`: N single-VM runs started at once (N GracefulVm resources in one `pulumi up`).
 */
export type OffGracefulScenario = "fleet" | "fleet-own" | "independent";

export interface ScenarioOutcomes {
    readonly graceful: number;
    readonly forced: number;
    readonly failed: number;
    readonly firstError?: string;
    /** The slowest tier's time, for fleet runs. */
    readonly tierMs?: number;
}

export async function runOffGraceful(
    kind: OffGracefulScenario,
    vms: readonly { readonly name: string; readonly inputs: VmPowerInputs }[],
): Promise<ScenarioOutcomes> {
    let graceful = 0;
    let forced = 0;
    let failed = 0;
    let firstError: string | undefined;
    const count = (method: string): void => {
        if (method === "forced") forced++;
        else graceful++;
    };
    const fail = (error: unknown): void => {
        failed++;
        firstError ??= error instanceof Error ? error.message : String(error);
    };
    if (kind === "independent") {
        const outcomes = await Promise.allSettled(vms.map((vm) => transition(vm.inputs, "OffGraceful")));
        for (const o of outcomes) {
            if (o.status === "rejected") fail(o.reason);
            else count(o.value.method);
        }
        return { graceful, forced, failed, firstError };
    }
    // A pool that knows no platform's sessions: every VM connects on its own.
    const sessions =
        kind === "fleet-own" ? new SessionPool({ loadModule: (p) => ({ createDriver: loadDriverModule(p).createDriver }) }) : undefined;
    const report = await runFleetOperation(
        vms.map((vm) => ({ name: vm.name, tier: 0, inputs: vm.inputs })),
        { action: "OffGraceful", concurrency: Number(process.env.FLEET_BENCH_CONCURRENCY) || vms.length, sessions },
    );
    await sessions?.close();
    for (const m of report.members) {
        if (m.outcome.status === "failed") fail(m.outcome.error);
        else if (m.outcome.status === "skipped") fail(m.outcome.reason);
        else count(m.outcome.result.reports[0].method);
    }
    return { graceful, forced, failed, firstError, tierMs: Math.max(...report.tiers.map((t) => t.durationMs)) };
}
