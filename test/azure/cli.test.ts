import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { AzureContractServer, FakeVm } from "../contracts/azure/server";
import { clientId, clientSecret, resourceGroupName, subscriptionId, tenantId } from "./setup";

/**
 * The `graceful-vm` CLI (compiled, from lib/: `npm run build` first) on an Azure VM of the
 * contract server, with the client secret from GRACEFUL_VM_CLIENT_SECRET.
 */
describe("graceful-vm CLI on Azure", () => {
    let server: AzureContractServer;
    let vm: FakeVm;
    let dir: string;
    let configFile: string;
    const cli = path.join(__dirname, "..", "..", "lib", "src", "cli", "main.js");

    beforeAll(async () => {
        server = await AzureContractServer.start({ principals: [{ tenantId, clientId, clientSecret }], operationMs: 100 });
        vm = server.addVm({ subscriptionId, resourceGroupName, vmName: "cli-1", guest: { kind: "shutsDown", afterMs: 300 } });
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "graceful-vm-azure-cli-"));
        configFile = path.join(dir, "azure.json");
        const target = {
            subscriptionId,
            resourceGroupName,
            vmName: "cli-1",
            tenantId,
            clientId,
            resourceManagerEndpoint: server.url,
            authorityHost: server.url,
            caCert: server.caCert,
        };
        fs.writeFileSync(configFile, JSON.stringify({ target: { azure: target } }));
    });
    afterAll(async () => {
        await server?.stop();
        fs.rmSync(dir, { recursive: true, force: true });
    });

    /** Runs the CLI without blocking this process's event loop (the server lives here). */
    function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
        return new Promise((resolve) => {
            const child = spawn(process.execPath, [cli, ...args, "--config", configFile], {
                env: { ...process.env, GRACEFUL_VM_CLIENT_SECRET: clientSecret },
            });
            let stdout = "";
            let stderr = "";
            child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
            child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
            child.on("close", (code) => resolve({ code, stdout, stderr }));
        });
    }

    test("off --graceful, off --deallocate, status, on: exit codes, reports, no secrets printed", async () => {
        const graceful = await run(["off", "--graceful", "--timeout", "10s", "--json"]);
        expect(graceful.code).toBe(0);
        expect(JSON.parse(graceful.stdout)).toMatchObject({
            platform: "azure",
            method: "graceful",
            gracefulMethod: "azure-integrated",
            to: "stopped",
        });
        expect(vm.lastStop).toBe("guest");

        const deallocate = await run(["off", "--deallocate", "--json"]);
        expect(deallocate.code).toBe(0);
        expect(JSON.parse(deallocate.stdout)).toMatchObject({ to: "deallocated" });

        const status = await run(["status"]);
        expect(status.code).toBe(0);
        expect(status.stdout).toMatch(/deallocated/);

        const on = await run(["on", "--json"]);
        expect(on.code).toBe(0);
        expect(JSON.parse(on.stdout)).toMatchObject({ from: "deallocated", to: "running", method: "powerOn" });

        const printed = [graceful, deallocate, status, on].map((r) => r.stdout + r.stderr).join("\n");
        for (const secret of [clientSecret, ...server.issuedTokens]) expect(printed).not.toContain(secret);
    });

    test("a guest that ignores the signal is forced at --timeout: exit code 3", async () => {
        vm.guest = { kind: "ignoresShutdown" };
        const forced = await run(["off", "--graceful", "--timeout", "2s", "--json"]);
        expect(forced.code).toBe(3);
        expect(JSON.parse(forced.stdout)).toMatchObject({ method: "forced", fallbackReason: "timeout", to: "stopped" });
    });
});
