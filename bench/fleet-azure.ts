import { runOffGraceful } from "./helpers/offGracefulScenario";
import { execFile } from "child_process";
import { parseInputs } from "../src/operations/inputs";
import { AzureContractServer } from "../test/contracts/azure/server";

/**
 * N Azure VMs to OffGraceful on the Azure contract server (test/contracts/azure), guests taking
 * ~2 s, with a `caCert` (the server's own CA): one fleet run (runFleetOperation, one session per
 * subscription+endpoint+identity: one HTTPS agent, one token) side by side with N independent
 * single-VM runs started at once (what N GracefulVm do in one `pulumi up`: each its own agent
 * and token). Each scenario runs in a child process of its own, so peak RSS is that
 * scenario's; the server runs in this process and counts what reached it. Prints ratios; never
 * fails on a number.
 *
 *     npm run bench -- fleet-azure     (sizes from FLEET_BENCH_SIZES, default "200 1000";
 *                                      FLEET_BENCH_CONCURRENCY bounds the fleet, default N;
 *                                      FLEET_BENCH_SCENARIOS, default "independent fleet";
 *                                      AZURE_BENCH_RETRY_AFTER: Retry-After on operations, default 1 s)
 */

const guestMs = 2_000;
const prefix = "flb";
const principal = {
    tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47",
    clientId: "0d5a1f3e-8c2b-4e7a-9f10-aa11bb22cc33",
    clientSecret: "Sx8Q~fleet-bench-secret-51c7",
};
const subscriptionId = "6f1c2b6e-0d5e-4a36-9a7c-3f1a2b3c4d5e";
const resourceGroupName = "rg-fleet";

type Kind = "fleet" | "independent";

/** What the child measured. */
interface ChildResult {
    readonly wallMs: number;
    readonly graceful: number;
    readonly forced: number;
    readonly failed: number;
    readonly firstError?: string;
    readonly peakRssMb: number;
    /** The client's CPU time (user + system) during the run. */
    readonly cpuMs: number;
}

const vmName = (i: number): string => `${prefix}-${String(i).padStart(4, "0")}`;

async function child(kind: Kind, count: number): Promise<ChildResult> {
    const url = process.env.AZURE_BENCH_URL as string;
    const caCert = process.env.AZURE_BENCH_CA as string;
    const inputs = Array.from({ length: count }, (_, i) =>
        parseInputs({
            platform: "azure",
            target: {
                subscriptionId,
                resourceGroupName,
                vmName: vmName(i),
                tenantId: principal.tenantId,
                clientId: principal.clientId,
                credential: "clientSecret",
                resourceManagerEndpoint: url,
                authorityHost: url,
                caCert,
            },
            credentials: { clientSecret: principal.clientSecret },
            powerState: "OffGraceful",
            gracefulShutdownTimeout: "60s",
        }),
    );
    const started = Date.now();
    const cpuBefore = process.cpuUsage();
    const { graceful, forced, failed, firstError } = await runOffGraceful(
        kind,
        inputs.map((vm, i) => ({ name: vmName(i), inputs: vm })),
    );
    const cpu = process.cpuUsage(cpuBefore);
    return {
        wallMs: Date.now() - started,
        cpuMs: Math.round((cpu.user + cpu.system) / 1000),
        graceful,
        forced,
        failed,
        ...(firstError !== undefined ? { firstError } : {}),
        peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
    };
}

/** Every bench VM present and running, and the server's counters at zero. */
function prepare(server: AzureContractServer, count: number): void {
    for (let i = 0; i < count; i++) {
        const name = vmName(i);
        const vm = server.vm(subscriptionId, resourceGroupName, name) ?? server.addVm({ subscriptionId, resourceGroupName, vmName: name });
        vm.guest = { kind: "shutsDown", afterMs: guestMs };
        if (vm.powerState !== "running") vm.setState("running", "bench reset");
        vm.history.length = 0;
    }
    server.requests.length = 0;
    server.tlsConnections = 0;
}

function runChild(kind: Kind, count: number, env: Record<string, string>): Promise<ChildResult> {
    return new Promise((resolve, reject) => {
        // Asynchronous: this process serves the scenario's requests meanwhile.
        execFile(
            process.execPath,
            [__filename, "--child", kind, String(count)],
            { encoding: "utf8", env: { ...process.env, ...env }, maxBuffer: 1 << 24 },
            (error, stdout, stderr) => {
                if (stderr) process.stderr.write(stderr);
                const last = stdout.trim().split("\n").at(-1);
                if (error && !last) return reject(error);
                try {
                    resolve(JSON.parse(last as string) as ChildResult);
                } catch (e) {
                    reject(new Error(`the ${kind} child printed no result: ${String(e)}`, { cause: error ?? e }));
                }
            },
        );
    });
}

function cpuSeconds(usage: NodeJS.CpuUsage): number {
    return (usage.user + usage.system) / 1e6;
}

function row(cells: readonly string[]): string {
    const widths = [12, 5, 7, 8, 7, 7, 6, 9, 7, 7, 7, 6, 8];
    return cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(" ");
}

async function main(): Promise<void> {
    const [, , mode, kind, size] = process.argv;
    if (mode === "--child") {
        const result = await child(kind as Kind, Number(size));
        process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
        return;
    }
    const retryAfterSeconds = Number(process.env.AZURE_BENCH_RETRY_AFTER ?? "1");
    const server = await AzureContractServer.start({ principals: [principal], operationMs: 100, retryAfterSeconds });
    try {
        const sizes = (process.env.FLEET_BENCH_SIZES ?? "200 1000").split(/\s+/).filter(Boolean).map(Number);
        const kinds = (process.env.FLEET_BENCH_SCENARIOS ?? "independent fleet").split(/\s+/).filter(Boolean) as Kind[];
        console.log(
            `Azure contract server ${server.url}: N VMs to OffGraceful, guests ${guestMs} ms, caCert given, Retry-After ${retryAfterSeconds} s; independent = N single-VM runs at once`,
        );
        console.log(
            row([
                "scenario",
                "VMs",
                "wall s",
                "÷ guest",
                "ARM/VM",
                "tokens",
                "TLS",
                "graceful",
                "forced",
                "failed",
                "RSS MB",
                "CPU s",
                "srv CPU",
            ]),
        );
        for (const count of sizes) {
            for (const scenario of kinds) {
                prepare(server, count);
                const serverCpuBefore = process.cpuUsage();
                const r = await runChild(scenario, count, { AZURE_BENCH_URL: server.url, AZURE_BENCH_CA: server.caCert });
                const label =
                    scenario === "fleet" && process.env.FLEET_BENCH_CONCURRENCY ? `fleet/${process.env.FLEET_BENCH_CONCURRENCY}` : scenario;
                console.log(
                    row([
                        label,
                        String(count),
                        (r.wallMs / 1000).toFixed(1),
                        (r.wallMs / guestMs).toFixed(2),
                        (server.armRequests().length / count).toFixed(1),
                        String(server.tokenRequests().length),
                        String(server.tlsConnections),
                        String(r.graceful),
                        String(r.forced),
                        String(r.failed),
                        String(r.peakRssMb),
                        (r.cpuMs / 1000).toFixed(1),
                        cpuSeconds(process.cpuUsage(serverCpuBefore)).toFixed(1),
                    ]),
                );
                if (r.firstError) console.log(`  first error: ${r.firstError.split("\n")[0].slice(0, 200)}`);
            }
        }
    } finally {
        await server.stop();
    }
}

main().catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
});
