import { runOffGraceful } from "./helpers/offGracefulScenario";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { proxmoxConnectionsOpened } from "../src/drivers/proxmox/connection";
import { secureContextsBuilt } from "../src/drivers/common/tls";
import { parseInputs } from "../src/operations/inputs";
import { ProxmoxContractServer } from "../test/contracts/proxmox";
import { peakRssMb, runScenarioChild, tableRow } from "./helpers/scenarioChild";

/**
 * N VMs to OffGraceful on the Proxmox contract server, guests taking ~2 s: one fleet run (one
 * process, runFleetOperation, concurrency N, one shared session for the endpoint) side by side
 * with N independent single-VM runs started at once (what N GracefulVm resources in one
 * `pulumi up` do today: one client, agent and TLS connections per VM). Both trust the server
 * through `caCert`. The server runs in this process and counts the HTTP calls and TLS
 * handshakes; each scenario's client runs in a child process of its own, so its peak RSS is its
 * own. Prints ratios; never fails on a number.
 *
 *     npm run bench -- fleet-proxmox          (sizes from FLEET_BENCH_SIZES, default "200 1000";
 *                                             FLEET_BENCH_CONCURRENCY bounds the fleet, default N;
 *                                             FLEET_BENCH_SCENARIOS, default "independent fleet")
 */

const guestMs = 2000;
const firstVmId = 1000;
const tokenId = "bench@pve!fleet";
const tokenSecret = "5f0c3a2e-9b1d-4e6f-8a7b-fleetbench01";

type Kind = "fleet" | "independent";

/** What the child (the client) measured. */
interface ClientResult {
    readonly startedAt: number;
    readonly wallMs: number;
    readonly graceful: number;
    readonly forced: number;
    readonly failed: number;
    readonly firstError?: string;
    /** HTTPS agents (connections) the client opened. */
    readonly agents: number;
    readonly secureContexts: number;
    readonly peakRssMb: number;
}

async function child(kind: Kind, count: number): Promise<ClientResult> {
    const endpoint = process.env.PVE_BENCH_ENDPOINT as string;
    const caCert = fs.readFileSync(process.env.PVE_BENCH_CA_FILE as string, "utf8");
    const inputs = Array.from({ length: count }, (_, i) =>
        parseInputs({
            platform: "proxmox",
            target: { endpoint, node: "pve1", vmId: firstVmId + i, caCert },
            credentials: { apiToken: `${tokenId}=${tokenSecret}` },
            powerState: "OffGraceful",
            gracefulShutdownTimeout: "60s",
        }),
    );
    const startedAt = Date.now();
    const { graceful, forced, failed, firstError } = await runOffGraceful(
        kind,
        inputs.map((vm, i) => ({ name: `vm-${firstVmId + i}`, inputs: vm })),
    );
    return {
        startedAt,
        wallMs: Date.now() - startedAt,
        graceful,
        forced,
        failed,
        ...(firstError ? { firstError } : {}),
        agents: proxmoxConnectionsOpened(),
        secureContexts: secureContextsBuilt(),
        peakRssMb: peakRssMb(),
    };
}

interface Row extends ClientResult {
    readonly kind: Kind;
    readonly vms: number;
    readonly calls: number;
    /** Calls by kind, per VM. */
    readonly mix: Readonly<Record<string, number>>;
    readonly handshakes: number;
    readonly resumed: number;
    /** From the run's start until the last guest was off. */
    readonly lastOffMs: number;
    /** From the run's start until the first and the last shutdown request reached the server. */
    readonly askedMs: readonly [number, number];
}

async function scenario(kind: Kind, count: number, caFile: string): Promise<Row> {
    const server = await ProxmoxContractServer.start({ quitDelayMs: 20 });
    try {
        server.addToken({ id: tokenId, secret: tokenSecret });
        for (let i = 0; i < count; i++) server.addVm({ vmid: firstVmId + i, shutdownDelayMs: guestMs });
        fs.writeFileSync(caFile, server.certificate.cert);
        const result = await runScenarioChild<ClientResult>(__filename, [kind, String(count)], {
            PVE_BENCH_ENDPOINT: server.endpoint,
            PVE_BENCH_CA_FILE: caFile,
        });
        const asked = server.requests.filter((r) => r.method === "POST" && r.path.endsWith("/status/shutdown")).map((r) => r.at);
        const offAt = [...server.vms.values()].map((vm) => vm.history.find((h) => h.status === "stopped")?.at ?? Number.NaN);
        return {
            ...result,
            kind,
            vms: count,
            calls: server.requests.length,
            mix: callMix(server, count),
            handshakes: server.tls.handshakes,
            resumed: server.tls.resumed,
            lastOffMs: Math.max(...offAt) - result.startedAt,
            askedMs: [Math.min(...asked) - result.startedAt, Math.max(...asked) - result.startedAt],
        };
    } finally {
        await server.stop();
    }
}

/** What the calls were, per VM: the VM's own reads, the shared lists, tasks, power requests. */
function callMix(server: ProxmoxContractServer, count: number): Record<string, number> {
    const kinds: Record<string, number> = {};
    for (const r of server.requests) {
        const kind =
            r.method !== "GET"
                ? `${r.method} ${r.path.split("/").slice(-2).join("/")}`
                : r.path.endsWith("/status/current")
                  ? "status/current"
                  : r.path.includes("/tasks/")
                    ? "task status"
                    : r.path.split("/api2/json")[1].replace(/\/nodes\/[^/]+/, "/nodes/N");
        kinds[kind] = (kinds[kind] ?? 0) + 1;
    }
    return Object.fromEntries(Object.entries(kinds).map(([k, v]) => [k, Math.round((v / count) * 100) / 100]));
}

const widths = [12, 5, 7, 8, 9, 8, 10, 7, 9, 7, 7, 7];

async function main(): Promise<void> {
    const [, , mode, kind, size] = process.argv;
    if (mode === "--child") {
        process.stdout.write(`${JSON.stringify(await child(kind as Kind, Number(size)))}\n`);
        return;
    }
    const sizes = (process.env.FLEET_BENCH_SIZES ?? "200 1000").split(/\s+/).filter(Boolean).map(Number);
    const kinds = (process.env.FLEET_BENCH_SCENARIOS ?? "independent fleet").split(/\s+/).filter(Boolean) as Kind[];
    const caFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "fleet-proxmox-")), "ca.pem");
    console.log(
        `Proxmox contract server (this process), client in a child per scenario: N VMs to OffGraceful, guests ${guestMs} ms, caCert given; ` +
            `independent = N single-VM runs at once`,
    );
    console.log(
        tableRow(
            [
                "scenario",
                "VMs",
                "wall s",
                "÷ guest",
                "last off",
                "HTTP/VM",
                "TLS hs (res)",
                "agents",
                "graceful",
                "forced",
                "failed",
                "RSS MB",
            ],
            widths,
        ),
    );
    try {
        for (const count of sizes) {
            for (const k of kinds) {
                const r = await scenario(k, count, caFile);
                const concurrency = process.env.FLEET_BENCH_CONCURRENCY;
                console.log(
                    tableRow(
                        [
                            r.kind === "fleet" && concurrency ? `fleet/${concurrency}` : r.kind,
                            String(r.vms),
                            (r.wallMs / 1000).toFixed(1),
                            (r.wallMs / guestMs).toFixed(2),
                            (r.lastOffMs / 1000).toFixed(1),
                            (r.calls / r.vms).toFixed(1),
                            `${r.handshakes} (${r.resumed})`,
                            String(r.agents),
                            String(r.graceful),
                            String(r.forced),
                            String(r.failed),
                            String(r.peakRssMb),
                        ],
                        widths,
                    ),
                );
                console.log(
                    `  shutdown requests reached the server ${(r.askedMs[0] / 1000).toFixed(2)}-${(r.askedMs[1] / 1000).toFixed(2)} s after the start`,
                );
                console.log(
                    `  calls per VM: ${Object.entries(r.mix)
                        .map(([k, v]) => `${k} ${v}`)
                        .join(", ")}`,
                );
                if (r.firstError) console.log(`  first error: ${r.firstError.slice(0, 300)}`);
            }
        }
    } finally {
        fs.rmSync(path.dirname(caFile), { recursive: true, force: true });
    }
}

main().catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
});
