import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { flagName, targetEnvName, targetFlagFields } from "../../src/cli/targetFlags";
import { platformSpec } from "../../src/drivers/registry";
import { PlatformName } from "../../src/drivers/platform";
import { AzureContractServer } from "../contracts/azure/server";
import { clientId, clientSecret, resourceGroupName, subscriptionId, tenantId } from "../azure/setup";
import { PveFixture, apiToken, startPve } from "../proxmox/setup";
import { cli } from "./helpers";

/**
 * The CLI as a pipeline uses it: no config file (target flags or GRACEFUL_VM_<PLATFORM>_<FIELD>
 * variables for every platform), `status --expect` as a gate, and JSON for every error under
 * --json, against the Proxmox and Azure contract servers.
 */
let pve: PveFixture;
let azure: AzureContractServer;
let dir: string;
let azureCaFile: string;

beforeAll(async () => {
    pve = await startPve();
    pve.server.addVm({ vmid: 501, shutdownDelayMs: 200 });
    azure = await AzureContractServer.start({ principals: [{ tenantId, clientId, clientSecret }], operationMs: 100 });
    azure.addVm({ subscriptionId, resourceGroupName, vmName: "pipe-1" });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "graceful-vm-pipeline-"));
    azureCaFile = path.join(dir, "azure-ca.pem");
    fs.writeFileSync(azureCaFile, azure.caCert);
});
afterAll(async () => {
    await pve.server.stop();
    await azure.stop();
    fs.rmSync(dir, { recursive: true, force: true });
});

function azureFlags(): string[] {
    return [
        "--azure-subscription-id",
        subscriptionId,
        "--azure-resource-group-name",
        resourceGroupName,
        "--azure-vm-name",
        "pipe-1",
        "--azure-tenant-id",
        tenantId,
        "--azure-client-id",
        clientId,
        "--azure-credential",
        "clientSecret",
        "--azure-resource-manager-endpoint",
        azure.url,
        "--azure-authority-host",
        azure.url,
        "--azure-ca-cert-file",
        azureCaFile,
    ];
}

function proxmoxEnv(): NodeJS.ProcessEnv {
    return {
        GRACEFUL_VM_PROXMOX_ENDPOINT: pve.server.endpoint,
        GRACEFUL_VM_PROXMOX_NODE: "pve1",
        GRACEFUL_VM_PROXMOX_VM_ID: "501",
        GRACEFUL_VM_PROXMOX_FINGERPRINT: pve.server.certificate.fingerprint256,
        GRACEFUL_VM_API_TOKEN: apiToken,
    };
}

describe("targets without a config file", () => {
    test("Azure from flags, the secret from GRACEFUL_VM_CLIENT_SECRET", async () => {
        const result = await cli(["status", ...azureFlags(), "--json"], { GRACEFUL_VM_CLIENT_SECRET: clientSecret });
        expect(result.code).toBe(0);
        expect(result.json()).toMatchObject({ platform: "azure", state: "running" });
        expect(result.stdout + result.stderr).not.toContain(clientSecret);
    });

    test("Proxmox from GRACEFUL_VM_PROXMOX_* variables: status, graceful off, on", async () => {
        expect((await cli(["status", "--json"], proxmoxEnv())).json()).toMatchObject({ platform: "proxmox", state: "running" });
        const off = await cli(["off", "--graceful", "--timeout", "5s", "--json", "--quiet"], proxmoxEnv());
        expect(off.code).toBe(0);
        expect(off.json()).toMatchObject({ to: "stopped", method: "graceful" });
        expect((await cli(["on", "--json", "--quiet"], proxmoxEnv())).code).toBe(0);
    });

    test("flags win over variables of the same platform; another platform's variables are ignored", async () => {
        const env = {
            ...proxmoxEnv(),
            GRACEFUL_VM_PROXMOX_VM_ID: "999",
            GRACEFUL_VM_VSPHERE_URL: "https://leftover.example/sdk",
            GRACEFUL_VM_AZURE_VM_NAME: "leftover",
        };
        const result = await cli(["status", "--proxmox-vm-id", "501", "--json"], env);
        expect(result.code).toBe(0);
        expect(result.json()).toMatchObject({ platform: "proxmox", state: "running" });
    });

    test("variables for two platforms and nothing else is a usage error", async () => {
        const result = await cli(["status", "--json"], { ...proxmoxEnv(), GRACEFUL_VM_VSPHERE_URL: "https://vc/sdk" });
        expect(result.code).toBe(2);
        expect(result.json()).toMatchObject({ errorType: "UsageError", exitCode: 2 });
        expect(result.json<{ error: string }>().error).toMatch(
            /more than one platform: proxmox and vsphere|more than one platform: vsphere and proxmox/,
        );
    });

    test("a bad value names the flag or the variable it came from", async () => {
        const flag = await cli(["status", "--proxmox-vm-id", "abc", "--json"], proxmoxEnv());
        expect(flag.code).toBe(2);
        expect(flag.json()).toMatchObject({ errorType: "InputError", fields: ["--proxmox-vm-id"] });
        const variable = await cli(["status", "--json"], { ...proxmoxEnv(), GRACEFUL_VM_PROXMOX_VM_ID: "12x" });
        expect(variable.json()).toMatchObject({ errorType: "InputError", fields: ["GRACEFUL_VM_PROXMOX_VM_ID"] });
        const insecure = await cli(["status", "--vsphere-url", "https://vc/sdk", "--vsphere-insecure", "yes", "--json"], {});
        expect(insecure.json()).toMatchObject({ fields: ["--vsphere-insecure"] });
        const file = await cli(["status", "--vsphere-url", "https://vc/sdk", "--vsphere-ca-cert-file", "/nonexistent.pem", "--json"], {});
        expect(file.json<{ error: string }>().error).toMatch(/--vsphere-ca-cert-file \/nonexistent\.pem: cannot read it \(ENOENT\)/);
    });

    test("every flag field is one its platform's target accepts, with a variable of the same name", () => {
        for (const [platform, fields] of Object.entries(targetFlagFields)) {
            const spec = platformSpec(platform as PlatformName, "target");
            for (const [field, type] of Object.entries(fields)) {
                let message = "";
                try {
                    spec.parseTarget({ [field]: type === "number" ? 1 : type === "boolean" ? false : "x" }, `target.${platform}`);
                } catch (e) {
                    message = (e as Error).message;
                }
                expect(message).not.toMatch(new RegExp(`target\\.${platform}\\.${field}: is not a known field`));
                expect(targetEnvName(platform, field, type)).toBe(
                    `GRACEFUL_VM_${flagName(platform, field, type).replace(/-/g, "_").toUpperCase()}`,
                );
            }
        }
    });
});

describe("exit codes mean what the docs say", () => {
    test("an explicit hard off that powered off is what was asked: exit 0, not 3", async () => {
        const off = await cli(["off", "--hard", "--json", "--quiet"], proxmoxEnv());
        expect(off.code).toBe(0);
        expect(off.json()).toMatchObject({ desired: "Off", method: "forced", to: "stopped" });
        const plain = await cli(["on", "--json", "--quiet"], proxmoxEnv());
        expect(plain.code).toBe(0);
        expect((await cli(["off", "--json", "--quiet"], proxmoxEnv())).code).toBe(0);
        expect((await cli(["on", "--quiet"], proxmoxEnv())).code).toBe(0);
    });
});

describe("status --expect", () => {
    test("exit 0 when the state matches, 1 otherwise, with the expectation in the JSON", async () => {
        const match = await cli(["status", "--expect", "running", "--json"], proxmoxEnv());
        expect(match.code).toBe(0);
        expect(match.json()).toMatchObject({ state: "running", expected: ["running"], matches: true });
        const miss = await cli(["status", "--expect", "stopped,deallocated", "--json"], proxmoxEnv());
        expect(miss.code).toBe(1);
        expect(miss.json()).toMatchObject({ state: "running", expected: ["stopped", "deallocated"], matches: false });
        const human = await cli(["status", "--expect", "stopped"], proxmoxEnv());
        expect(human.stdout).toMatch(/: running .*\(expected stopped\)/);
    });

    test("an unknown state or --expect on another command is a usage error", async () => {
        const unknown = await cli(["status", "--expect", "off", "--json"], proxmoxEnv());
        expect(unknown.code).toBe(2);
        expect(unknown.json<{ error: string }>().error).toMatch(/--expect "off" is not a power state/);
        const wrongCommand = await cli(["on", "--expect", "running", "--json"], proxmoxEnv());
        expect(wrongCommand.code).toBe(2);
        expect(wrongCommand.json<{ error: string }>().error).toMatch(/--expect applies to "status" only/);
    });
});

describe("--json errors", () => {
    test.each([
        [["off", "--bogus", "--json"], "UsageError"],
        [["frobnicate", "--json"], "UsageError"],
        [["off", "--graceful", "--hard", "--json"], "UsageError"],
        [["status", "--json"], "UsageError"],
        [["status", "--json", "--domain", "web-1", "--shutdown-mode", "bogus"], "InputError"],
    ])("%j prints JSON with the error, its type and exit code 2", async (argv, errorType) => {
        const result = await cli(argv, {});
        expect(result.code).toBe(2);
        const body = result.json<{ error: string; errorType: string; exitCode: number }>();
        expect(body.errorType).toBe(errorType);
        expect(body.exitCode).toBe(2);
        expect(body.error.length).toBeGreaterThan(0);
    });

    test("a platform failure under --json carries exit code 1", async () => {
        const env = { ...proxmoxEnv(), GRACEFUL_VM_PROXMOX_VM_ID: "777" };
        const result = await cli(["status", "--json"], env);
        expect(result.code).toBe(1);
        expect(result.json()).toMatchObject({ exitCode: 1 });
    });
});
