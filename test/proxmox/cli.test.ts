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
