import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { stringify } from "yaml";
import { TransitionReport } from "../../src/power/report";
import { cli } from "../cli/helpers";
import { PveFixture, apiToken, startPve, tokenSecret } from "./setup";

/**
 * `graceful-vm` against the Proxmox contract server: a YAML target, the token from
 * GRACEFUL_VM_API_TOKEN, exit codes 0 (graceful) and 3 (forced), and no secret in the output.
 */
describe("graceful-vm CLI on Proxmox", () => {
    let pve: PveFixture;
    let dir: string;
    let config: string;

    beforeAll(async () => {
        pve = await startPve();
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "pve-cli-"));
        config = path.join(dir, "pve.yaml");
        fs.writeFileSync(
            config,
            stringify({
                target: {
                    proxmox: { endpoint: pve.server.endpoint, node: "pve1", vmId: 401, fingerprint: pve.server.certificate.fingerprint256 },
                },
                gracefulShutdownTimeout: "2s",
            }),
        );
    });
    afterAll(async () => {
        await pve.server.stop();
        fs.rmSync(dir, { recursive: true, force: true });
    });

    test("status, then a graceful off (exit 0), then on", async () => {
        pve.server.addVm({ vmid: 401, shutdownDelayMs: 300 });
        const env = { GRACEFUL_VM_API_TOKEN: apiToken };
        const status = await cli(["status", "--config", config, "--json"], env);
        expect(status.code).toBe(0);
        expect(status.stdout).toContain("running");

        const off = await cli(["off", "--graceful", "--config", config, "--json", "--quiet"], env);
        expect(off.code).toBe(0);
        expect(off.json<TransitionReport>()).toMatchObject({ platform: "proxmox", method: "graceful", to: "stopped" });

        const on = await cli(["on", "--config", config, "--json", "--quiet"], env);
        expect(on.code).toBe(0);
        expect(on.json<TransitionReport>()).toMatchObject({ method: "powerOn", to: "running" });
        expect(off.stdout + off.stderr + on.stdout + on.stderr).not.toContain(tokenSecret);
    });

    test("a hung guest is forced after --timeout: exit 3", async () => {
        pve.server.addVm({ vmid: 401, shutdownDelayMs: "never" });
        const off = await cli(["off", "--graceful", "--timeout", "1s", "--config", config, "--json", "--quiet"], {
            GRACEFUL_VM_API_TOKEN: apiToken,
        });
        expect(off.code).toBe(3);
        expect(off.json<TransitionReport>()).toMatchObject({ method: "forced", fallbackReason: "timeout", to: "stopped" });
    });

    test("a malformed token is a usage error (exit 2) that does not print it", async () => {
        const off = await cli(["off", "--hard", "--config", config], { GRACEFUL_VM_API_TOKEN: "automation@pve=not-a-token-secret" });
        expect(off.code).toBe(2);
        expect(off.stderr).toContain("target.proxmox.apiToken");
        expect(off.stdout + off.stderr).not.toContain("not-a-token-secret");
    });

    test("a wrong token fails (exit 1) with the 401 and without the secret", async () => {
        pve.server.addVm({ vmid: 401 });
        const wrongSecret = "11111111-2222-4333-8444-555555555555";
        const off = await cli(["off", "--hard", "--config", config], { GRACEFUL_VM_API_TOKEN: `automation@pve!pulumi=${wrongSecret}` });
        expect(off.code).toBe(1);
        expect(off.stderr).toContain("HTTP 401");
        expect(off.stdout + off.stderr).not.toContain(wrongSecret);
        expect(pve.server.vms.get(401)?.running).toBe(true);
    });
});

/**
 * The CLI on a cluster that behaves as real ones do: HA resources, PVE 8 privileges, a node
 * that is down, a VM that moved, a shutdown the token may not overrule.
 */
describe("graceful-vm CLI on a Proxmox cluster (HA, PVE 8 privileges, a down node)", () => {
    let pve: PveFixture;
    let dir: string;
    const env = { GRACEFUL_VM_API_TOKEN: apiToken };

    beforeAll(async () => {
        pve = await startPve({ nodes: ["pve1", "pve2"], haRoundMs: 100, pveVersion: "8", configLockTimeoutMs: 300 });
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "pve-cli-cluster-"));
    });
    afterAll(async () => {
        await pve.server.stop();
        fs.rmSync(dir, { recursive: true, force: true });
    });

    function configFor(vmId: number, node = "pve1", timeout = "5s"): string {
        const file = path.join(dir, `vm-${vmId}-${node}.yaml`);
        const proxmox = { endpoint: pve.server.endpoint, node, vmId, fingerprint: pve.server.certificate.fingerprint256 };
        fs.writeFileSync(file, stringify({ target: { proxmox }, gracefulShutdownTimeout: timeout }));
        return file;
    }

    test("HA-managed, graceful: exit 0; the report says the HA manager was asked", async () => {
        pve.server.addVm({ vmid: 451, haManaged: true, shutdownDelayMs: 300 });
        const off = await cli(["off", "--graceful", "--config", configFor(451), "--json", "--quiet"], env);
        expect(off.code).toBe(0);
        const report = off.json<TransitionReport>();
        expect(report).toMatchObject({ method: "graceful", gracefulMethod: "pve-ha-stop", to: "stopped" });
        expect(report.guestTools).toMatch(/^HA-managed \(ha\.state started\)/);
        expect(pve.server.tasksOf(451).map((t) => t.type)).toEqual(["hastop", "qmshutdown"]);
    });

    test("HA-managed, hung guest: HA forces it after its timeout (exit 3) and no second stop is sent", async () => {
        const vm = pve.server.addVm({ vmid: 452, haManaged: true, shutdownDelayMs: "never", agentConfigured: false });
        const off = await cli(["off", "--graceful", "--timeout", "1s", "--config", configFor(452), "--json"], env);
        expect(off.code).toBe(3);
        expect(off.json<TransitionReport>()).toMatchObject({ method: "forced", fallbackReason: "timeout", to: "stopped" });
        expect(off.stderr).toContain("HA is still carrying out our stop (timeout 1s, then forceStop)");
        expect(pve.server.requests.filter((r) => r.method === "POST" && r.path.includes("/qemu/452/")).map((r) => r.path)).toEqual([
            "/api2/json/nodes/pve1/qemu/452/status/shutdown",
        ]);
        expect(vm.running).toBe(false);
    });

    test("PVE 8: --wait-for-agent with a token lacking VM.Monitor fails (exit 1) naming it and the PVE 8 list", async () => {
        pve.server.addVm({ vmid: 453, status: "stopped" });
        const lean = pve.server.addToken({
            id: "automation@pve!lean",
            secret: "9d9d9d9d-1111-4222-8333-444455556666",
            privileges: ["VM.Audit", "VM.PowerMgmt"],
        });
        const on = await cli(["on", "--wait-for-agent", "--config", configFor(453)], { GRACEFUL_VM_API_TOKEN: lean });
        expect(on.code).toBe(1);
        expect(on.stderr).toContain("the token lacks VM.Monitor on /vms/453");
        expect(on.stderr).toContain("Proxmox VE 8 needs VM.Audit and VM.PowerMgmt on /vms/453");
        expect(on.stderr).not.toContain("9d9d9d9d-1111");
    });

    test("a node that is down: status fails (exit 1) saying so, with PVE's 595 reason", async () => {
        pve.server.addVm({ vmid: 454, node: "pve2" });
        pve.server.setNodeDown("pve2");
        try {
            const status = await cli(["status", "--config", configFor(454, "pve2")], env);
            expect(status.code).toBe(1);
            expect(status.stderr).toContain("node pve2 does not answer (HTTP 595: No route to host, from the cluster's proxy)");
        } finally {
            pve.server.setNodeUp("pve2");
        }
    });

    test("a VM migrated to another node: found through /cluster/resources and stopped there (exit 0)", async () => {
        pve.server.addVm({ vmid: 455, node: "pve2", shutdownDelayMs: 200 });
        const off = await cli(["off", "--graceful", "--config", configFor(455, "pve1"), "--json"], env);
        expect(off.code).toBe(0);
        expect(off.stderr).toContain("the VM is on node pve2 now (cluster resources); using that node");
        expect(pve.server.vms.get(455)?.running).toBe(false);
    });

    test("a hard stop that may not abort someone else's shutdown: exit 1 naming Sys.Modify", async () => {
        pve.server.addVm({ vmid: 456, shutdownDelayMs: "never" });
        const gui = pve.server.addToken({ id: "admin@pve!gui", secret: "8e8e8e8e-1111-4222-8333-444455556666" });
        const other = pve.driver(456, {}, undefined, gui);
        await other.requestGuestShutdown(Date.now() + 60_000).finally(() => other.close());
        const off = await cli(["off", "--hard", "--config", configFor(456)], env);
        expect(off.code).toBe(1);
        expect(off.stderr).toContain("Sys.Modify on /nodes/pve1 would let it abort that one too");
        expect(pve.server.vms.get(456)?.running).toBe(true);
    });
});
