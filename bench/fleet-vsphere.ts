import { runOffGraceful } from "./helpers/offGracefulScenario";
import { execFileSync } from "child_process";
import { parseInputs } from "../src/operations/inputs";
import { Vcsim, callCounts, control, rawTarget, vcsimFrom } from "../test/vsphere/vcsim";
import { peerEnvironment } from "./helpers/vsphereEnvironment";

/**
 * N VMs to OffGraceful on the vSphere simulator, guests taking ~2 s, three ways, each in a child
 * process of its own so peak RSS is that scenario's:
 * - `independent`: N single-VM runs started at once (what N GracefulVm resources in one
 *   `pulumi up` do): N logins, N collectors;
 * - `fleet-own`: one fleet run (runFleetOperation, concurrency N) whose VMs each connect on
 *   their own (the fleet path before shared sessions);
 * - `fleet`: the fleet path as it is, one shared session per endpoint (one Login, one
 *   PropertyCollector loop for every VM waited on).
 * Prints wall time and the tier's time over the slowest guest, SOAP calls per VM (the
 * simulator's own count), logins per endpoint, peak RSS. Never fails on a number.
 *
 *     npm run bench -- fleet-vsphere          (sizes from FLEET_BENCH_SIZES, default "200 1000";
 *                                             FLEET_BENCH_CONCURRENCY bounds the fleets, default N;
 *                                             FLEET_BENCH_SCENARIOS, default "independent fleet-own fleet")
 *
 * Point it at a simulator of your own (VSPHERE_TEST_PORT=19388 bash scripts/peers/vsphere.sh
 * start, then export its VCSIM_* lines): it changes every VM's default shutdown delay.
 */

const guestMs = 2000;
const prefix = "flb";
type Kind = "independent" | "fleet-own" | "fleet";

interface Result {
    readonly scenario: string;
    readonly vms: number;
    readonly wallMs: number;
    /** The slowest tier's time (fleets: one tier); the whole run for independent runs. */
    readonly tierMs: number;
    readonly graceful: number;
    readonly forced: number;
    readonly failed: number;
    readonly soapCalls: number;
    readonly logins: number;
    readonly peakRssMb: number;
}

async function scenario(kind: Kind, count: number): Promise<Result> {
    const sim = vcsimFrom(peerEnvironment());
    const names = Array.from({ length: count }, (_, i) => `${prefix}-${String(i).padStart(4, "0")}`);
    const inputs = names.map((vm) =>
        parseInputs({
            platform: "vsphere",
            target: rawTarget(sim, vm),
            credentials: { password: sim.password },
            powerState: "OffGraceful",
            gracefulShutdownTimeout: "60s",
        }),
    );
    await control(sim, "calls/reset");
    const started = Date.now();
    const { graceful, forced, failed, tierMs } = await runOffGraceful(
        kind,
        names.map((name, i) => ({ name, inputs: inputs[i] })),
    );
    const wallMs = Date.now() - started;
    const counts = await callCounts(sim);
    return {
        scenario: kind,
        vms: count,
        wallMs,
        tierMs: tierMs ?? wallMs,
        graceful,
        forced,
        failed,
        soapCalls: counts.calls,
        logins: counts.logins,
        peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
    };
}

async function prepare(sim: Vcsim, count: number): Promise<void> {
    await control(sim, "fleet", { count, prefix, power: "on" });
    await control(sim, "vm", { delay: `${guestMs}ms` });
    const { vms } = await control<{ vms: { name: string; powerState: string }[] }>(sim, "vms", { prefix }, "GET");
    for (const vm of vms.filter((v) => v.powerState !== "poweredOn")) await control(sim, "power", { name: vm.name, state: "on" });
}

function row(cells: readonly string[]): string {
    const widths = [14, 5, 7, 8, 8, 8, 7, 9, 7, 7, 7];
    return cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(" ");
}

async function main(): Promise<void> {
    const [, , mode, kind, size] = process.argv;
    if (mode === "--child") {
        process.stdout.write(`${JSON.stringify(await scenario(kind as Kind, Number(size)))}\n`);
        return;
    }
    const env = peerEnvironment();
    const sim = vcsimFrom(env);
    const sizes = (process.env.FLEET_BENCH_SIZES ?? "200 1000").split(/\s+/).filter(Boolean).map(Number);
    console.log(
        `vSphere simulator ${sim.url}: N VMs to OffGraceful, guests ${guestMs} ms; independent = N single-VM runs at once, ` +
            "fleet-own = one fleet run, each VM its own login, fleet = one fleet run on one shared session",
    );
    console.log(row(["scenario", "VMs", "wall s", "÷ guest", "tier ÷ g", "SOAP/VM", "logins", "graceful", "forced", "failed", "RSS MB"]));
    for (const count of sizes) {
        const kinds = (process.env.FLEET_BENCH_SCENARIOS ?? "independent fleet-own fleet").split(/\s+/).filter(Boolean) as Kind[];
        for (const kind of kinds) {
            await prepare(sim, count);
            const out = execFileSync(process.execPath, [__filename, "--child", kind, String(count)], {
                encoding: "utf8",
                env: { ...process.env, ...env },
                stdio: ["ignore", "pipe", "inherit"],
                maxBuffer: 1 << 24,
            });
            const r = JSON.parse(out.trim().split("\n").at(-1) as string) as Result;
            console.log(
                row([
                    r.scenario !== "independent" && process.env.FLEET_BENCH_CONCURRENCY
                        ? `${r.scenario}/${process.env.FLEET_BENCH_CONCURRENCY}`
                        : r.scenario,
                    String(r.vms),
                    (r.wallMs / 1000).toFixed(1),
                    (r.wallMs / guestMs).toFixed(2),
                    (r.tierMs / guestMs).toFixed(2),
                    (r.soapCalls / r.vms).toFixed(1),
                    String(r.logins),
                    String(r.graceful),
                    String(r.forced),
                    String(r.failed),
                    String(r.peakRssMb),
                ]),
            );
        }
    }
}

main().catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
});
