import { proxmoxConnectionsOpened } from "../../src/drivers/proxmox/connection";
import { FleetVm, FleetVmResult, runFleetOperation } from "../../src/operations/fleet";
import { parseInputs } from "../../src/operations/inputs";
import { FleetReport } from "../../src/power/fleet";
import { ProxmoxContractServer } from "../contracts/proxmox";
import { apiToken, tokenId, tokenSecret } from "./setup";

/**
 * A fleet of Proxmox VMs through runFleetOperation on the contract server: the VMs of one
 * endpoint and token share one session (one HTTPS agent, connections kept alive, the token
 * checked once), which the server sees as a handful of TLS handshakes for the whole fleet.
 */

const size = 24;
/** The session's agent keeps at most this many connections (ProxmoxSession's default). */
const sessionSockets = 8;

let server: ProxmoxContractServer;

beforeEach(async () => {
    server = await ProxmoxContractServer.start({ authFailureDelayMs: 300, nodes: ["pve1", "pve2"] });
    server.addToken({ id: tokenId, secret: tokenSecret });
});
afterEach(async () => {
    await server.stop();
});

function fleet(first: number, trust: "caCert" | "fingerprint", token = apiToken): FleetVm[] {
    return Array.from({ length: size }, (_, i) => {
        const vmId = first + i;
        return {
            name: `vm-${vmId}`,
            tier: 0,
            inputs: parseInputs({
                platform: "proxmox",
                target: {
                    endpoint: server.endpoint,
                    node: "pve1",
                    vmId,
                    ...(trust === "caCert" ? { caCert: server.certificate.cert } : { fingerprint: server.certificate.fingerprint256 }),
                },
                credentials: { apiToken: token },
                powerState: "OffGraceful",
                gracefulShutdownTimeout: "30s",
            }),
        };
    });
}

function addVms(first: number, shutdownDelayMs = 400): void {
    for (let i = 0; i < size; i++) server.addVm({ vmid: first + i, shutdownDelayMs, agentConfigured: i % 2 === 0 });
}

function errors(report: FleetReport<FleetVmResult>): string[] {
    return report.members.map((m) => (m.outcome.status === "failed" ? m.outcome.error.message : `not failed: ${m.outcome.status}`));
}

describe("Proxmox fleet: one shared session per endpoint and token", () => {
    jest.setTimeout(60_000);

    test.each(["caCert", "fingerprint"] as const)(
        "%s: the VMs stop gracefully over one agent, a few TLS handshakes, and few calls each",
        async (trust) => {
            addVms(600);
            const agentsBefore = proxmoxConnectionsOpened();
            const report = await runFleetOperation(fleet(600, trust), { action: "OffGraceful", concurrency: size });

            expect(report.totals).toMatchObject({ done: size, failed: 0, skipped: 0 });
            for (const m of report.members) {
                expect(m.outcome.status === "done" && m.outcome.result.reports.map((r) => r.method)).toEqual(["graceful"]);
            }
            expect([...server.vms.values()].every((vm) => !vm.running)).toBe(true);
            // One HTTPS agent for the whole fleet, and no more connections than it keeps.
            expect(proxmoxConnectionsOpened() - agentsBefore).toBe(1);
            expect(server.tls.handshakes).toBeGreaterThanOrEqual(1);
            expect(server.tls.handshakes).toBeLessThanOrEqual(sessionSockets);
            // The token checked once for the endpoint, not once per VM.
            expect(server.requests.filter((r) => r.path.endsWith("/version"))).toHaveLength(1);
            const perVm = server.requests.length / size;
            expect(perVm).toBeLessThanOrEqual(10);
        },
    );

    test("VMs waiting on one node share one poll of its VM list and take a stop from it without a read of their own", async () => {
        addVms(650, 3_000);
        const started = Date.now();
        const report = await runFleetOperation(fleet(650, "fingerprint"), { action: "OffGraceful", concurrency: size });
        const elapsedMs = Date.now() - started;

        expect(report.totals).toMatchObject({ done: size, failed: 0 });
        for (const m of report.members) expect(m.outcome.status === "done" && m.outcome.result.reports[0].method).toBe("graceful");
        const ownReads = server.requests.filter((r) => r.path.endsWith("/status/current")).length;
        const lists = server.requests.filter((r) => r.path.endsWith("/nodes/pve1/qemu")).length;
        // Per VM: the first read only; the stop is taken from the list (a 1 s poll of its own would take 3 more).
        expect(ownReads / size).toBeLessThanOrEqual(1.5);
        // The node list: about one per 250 ms for all VMs together, not one per VM.
        expect(lists).toBeGreaterThanOrEqual(1);
        expect(lists).toBeLessThanOrEqual(Math.ceil(elapsedMs / 250) + 4);
    });

    test("while the node does not answer, each VM reads on its own at its own 1 s pace, and all finish gracefully after", async () => {
        addVms(680, 3_500);
        setTimeout(() => server.setNodeDown("pve1"), 800).unref();
        setTimeout(() => server.setNodeUp("pve1"), 2_800).unref();
        const report = await runFleetOperation(fleet(680, "fingerprint"), { action: "OffGraceful", concurrency: size });

        expect(report.totals).toMatchObject({ done: size, failed: 0 });
        for (const m of report.members) expect(m.outcome.status === "done" && m.outcome.result.reports[0].method).toBe("graceful");
        // 2 s down: about two reads of its own per VM (1 s apart), not eight (the shared list's 250 ms).
        const ownFailed = server.requests.filter((r) => r.status === 595 && r.path.endsWith("/status/current")).length;
        expect(ownFailed / size).toBeLessThanOrEqual(3.5);
    });

    test("VMs moved to another node are found with one shared cluster listing, not one each", async () => {
        addVms(700);
        for (let i = 0; i < size; i++) server.migrateVm(700 + i, "pve2");
        const report = await runFleetOperation(fleet(700, "fingerprint"), { action: "OffGraceful", concurrency: size });

        expect(report.totals).toMatchObject({ done: size, failed: 0 });
        expect([...server.vms.values()].every((vm) => !vm.running)).toBe(true);
        const listings = server.requests.filter((r) => r.path.endsWith("/cluster/resources")).length;
        expect(listings).toBeGreaterThanOrEqual(1);
        expect(listings).toBeLessThanOrEqual(3);
    });

    test("a revoked token fails every VM with the same clear error after one refusal, touching none", async () => {
        addVms(800);
        server.tokens.delete(tokenId);
        const started = Date.now();
        const report = await runFleetOperation(fleet(800, "fingerprint"), { action: "OffGraceful", concurrency: size });

        expect(report.totals).toMatchObject({ done: 0, failed: size });
        for (const message of errors(report)) {
            expect(message).toMatch(/refused the API token \(HTTP 401: authentication failure\)/);
            expect(message).not.toContain(tokenSecret);
        }
        // One delayed refusal for the endpoint (PVE's 3 s each), not one per VM.
        expect(server.requests.filter((r) => r.status === 401)).toHaveLength(1);
        expect(server.requests.filter((r) => r.method === "POST")).toHaveLength(0);
        expect([...server.vms.values()].every((vm) => vm.running)).toBe(true);
        expect(Date.now() - started).toBeLessThan(5_000);
    });

    test("a token revoked mid-wait fails every VM clearly, without one delayed refusal per poll", async () => {
        addVms(900, 8_000);
        setTimeout(() => server.tokens.delete(tokenId), 1_500).unref();
        const report = await runFleetOperation(fleet(900, "fingerprint"), { action: "OffGraceful", concurrency: size });

        expect(report.totals).toMatchObject({ done: 0, failed: size });
        for (const message of errors(report)) expect(message).toMatch(/refused the API token/);
        // Requests already on their way when the first refusal came back may be refused too; later ones never leave.
        const refusals = server.requests.filter((r) => r.status === 401).length;
        expect(refusals).toBeGreaterThanOrEqual(1);
        expect(refusals).toBeLessThanOrEqual(size);
        // No VM was forced off after the refusal.
        expect(server.requests.filter((r) => r.path.endsWith("/status/stop"))).toHaveLength(0);
    });
});
