import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { stringify } from "yaml";
import { exitCodes } from "../../src/cli/exitCodes";
import { cli } from "../cli/helpers";
import { PveFixture, apiToken, startPve, tokenId, tokenSecret } from "./setup";

/**
 * `graceful-vm off --graceful --fleet FILE` on the Proxmox contract server, through the built
 * CLI: 20 VMs in two tiers of one endpoint share one session (one agent; the server sees a few
 * TLS handshakes and one token check), a dry run sends no change, and a revoked token fails
 * every VM with one refusal and exit 1.
 */

interface FleetJson {
    vms: { name: string; tier: number; status: string; reports: { method: string }[]; error?: string }[];
    totals: { done: number; failed: number; skipped: number };
    exitCode: number;
}

const perTier = 10;

describe("graceful-vm --fleet on Proxmox", () => {
    jest.setTimeout(60_000);
    let pve: PveFixture;
    let dir: string;
    let file: string;

    beforeEach(async () => {
        pve = await startPve();
        for (let i = 0; i < 2 * perTier; i++) pve.server.addVm({ vmid: 500 + i, shutdownDelayMs: 300 });
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "pve-fleet-"));
        file = path.join(dir, "fleet.yaml");
        const vm = (vmId: number) => ({ name: `vm-${vmId}`, target: { proxmox: { vmId } } });
        fs.writeFileSync(
            file,
            stringify({
                defaults: {
                    gracefulShutdownTimeout: "10s",
                    target: { proxmox: { endpoint: pve.server.endpoint, node: "pve1", caCert: pve.server.certificate.cert } },
                },
                tiers: [
                    { name: "db", vms: Array.from({ length: perTier }, (_, i) => vm(500 + i)) },
                    { name: "app", vms: Array.from({ length: perTier }, (_, i) => vm(500 + perTier + i)) },
                ],
            }),
        );
    });
    afterEach(async () => {
        await pve.server.stop();
        fs.rmSync(dir, { recursive: true, force: true });
    });

    test("off --graceful: every VM graceful over one session, the app tier before the db tier", async () => {
        const off = await cli(["off", "--graceful", "--fleet", file, "--concurrency", "20", "--json"], { GRACEFUL_VM_API_TOKEN: apiToken });
        expect(off.code).toBe(exitCodes.ok);
        const report = off.json<FleetJson>();
        expect(report.totals).toMatchObject({ done: 2 * perTier, failed: 0 });
        expect(report.vms.every((v) => v.reports[0]?.method === "graceful")).toBe(true);
        expect([...pve.server.vms.values()].every((vm) => !vm.running)).toBe(true);
        // The last app VM's shutdown was asked for before the first db VM's.
        const shutdowns = pve.server.requests.filter((r) => r.path.endsWith("/status/shutdown"));
        const vmOf = (p: string) => Number(/qemu\/(\d+)\//.exec(p)?.[1]);
        const lastApp = Math.max(...shutdowns.filter((r) => vmOf(r.path) >= 500 + perTier).map((r) => r.at));
        const firstDb = Math.min(...shutdowns.filter((r) => vmOf(r.path) < 500 + perTier).map((r) => r.at));
        expect(lastApp).toBeLessThan(firstDb);
        // One session: the token checked once, connections kept and shared by all 20 VMs.
        expect(pve.server.requests.filter((r) => r.path.endsWith("/version"))).toHaveLength(1);
        expect(pve.server.tls.handshakes).toBeLessThanOrEqual(8);
        expect(pve.server.requests.length / (2 * perTier)).toBeLessThanOrEqual(10);
        expect(off.stdout + off.stderr).not.toContain(tokenSecret);
    });

    test("--dry-run reads through the session and changes nothing", async () => {
        const plan = await cli(["off", "--graceful", "--fleet", file, "--dry-run", "--json"], { GRACEFUL_VM_API_TOKEN: apiToken });
        expect(plan.code).toBe(exitCodes.ok);
        expect(pve.server.requests.filter((r) => r.method !== "GET")).toEqual([]);
        expect(pve.server.tls.handshakes).toBeLessThanOrEqual(8);
        expect([...pve.server.vms.values()].every((vm) => vm.running)).toBe(true);
    });

    test("a revoked token: every VM failed with the refusal, one 401 on the server, exit 1", async () => {
        pve.server.tokens.delete(tokenId);
        const off = await cli(["off", "--graceful", "--fleet", file, "--concurrency", "20", "--on-failure", "continue", "--json"], {
            GRACEFUL_VM_API_TOKEN: apiToken,
        });
        expect(off.code).toBe(exitCodes.failure);
        const report = off.json<FleetJson>();
        expect(report.totals).toMatchObject({ done: 0, failed: 2 * perTier });
        for (const v of report.vms) expect(v.error).toMatch(/refused the API token/);
        expect(pve.server.requests.filter((r) => r.status === 401)).toHaveLength(1);
        expect(off.stdout + off.stderr).not.toContain(tokenSecret);
    });
});
