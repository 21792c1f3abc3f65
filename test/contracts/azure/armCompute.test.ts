import * as https from "https";
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import { AzureContractServer } from "./server";

/**
 * The Azure contract server held to Microsoft's own client, `@azure/arm-compute` (a dev
 * dependency), with a fake credential that takes its tokens from the server's token
 * endpoint. Every call the driver relies on goes through the SDK's own serialisation, LRO
 * poller and error mapping; a disagreement fails. Skips only where the package cannot be
 * loaded, never with CI=true.
 */

type ArmCompute = typeof import("@azure/arm-compute");

function loadSdk(): ArmCompute | string {
    try {
        return require("@azure/arm-compute") as ArmCompute;
    } catch (e) {
        return e instanceof Error ? e.message : String(e);
    }
}

const sdk = loadSdk();
const subscriptionId = "0b1f6471-1bf0-4dda-aec3-cb9272f09590";
const tenantId = "8a2d3c4e-0000-4000-8000-00000000aaaa";
const clientId = "1c2d3e4f-0000-4000-8000-00000000bbbb";
const clientSecret = "fake~arm-compute-contract-secret";
const group = "rg-sdk";

/** A TokenCredential that gets client-credential tokens from the contract server's Entra stand-in. */
class ContractServerCredential implements TokenCredential {
    tokensRequested = 0;
    constructor(private readonly server: AzureContractServer) {}

    getToken(scopes: string | string[]): Promise<AccessToken> {
        this.tokensRequested++;
        const scope = Array.isArray(scopes) ? scopes[0] : scopes;
        const form = new URLSearchParams({ grant_type: "client_credentials", client_id: clientId, client_secret: clientSecret, scope });
        return new Promise((resolve, reject) => {
            const req = https.request(
                `${this.server.url}/${tenantId}/oauth2/v2.0/token`,
                { method: "POST", ca: this.server.caCert, headers: { "Content-Type": "application/x-www-form-urlencoded" } },
                (res) => {
                    let text = "";
                    res.on("data", (c: Buffer) => (text += c.toString()));
                    res.on("end", () => {
                        const body = JSON.parse(text) as { access_token?: string; expires_in?: number; error_description?: string };
                        if (!body.access_token) return reject(new Error(`token request failed: ${body.error_description ?? text}`));
                        resolve({ token: body.access_token, expiresOnTimestamp: Date.now() + (body.expires_in ?? 3600) * 1000 });
                    });
                },
            );
            req.on("error", reject);
            req.end(form.toString());
        });
    }
}

if (typeof sdk === "string" && process.env.CI !== "true") {
    console.warn(`@azure/arm-compute real-client tests skipped: the package cannot be loaded (${sdk})`);
}
const describeSdk = typeof sdk !== "string" || process.env.CI === "true" ? describe : describe.skip;

describeSdk("@azure/arm-compute against the Azure contract server", () => {
    let server: AzureContractServer;
    let credential: ContractServerCredential;
    let client: InstanceType<ArmCompute["ComputeManagementClient"]>;
    const poll = { updateIntervalInMs: 20 };

    beforeAll(async () => {
        if (typeof sdk === "string") throw new Error(`@azure/arm-compute cannot be loaded: ${sdk}`);
        server = await AzureContractServer.start({ principals: [{ tenantId, clientId, clientSecret }], operationMs: 50 });
        credential = new ContractServerCredential(server);
        client = new sdk.ComputeManagementClient(credential, subscriptionId, {
            endpoint: server.url,
            credentialScopes: [`${server.url}/.default`],
            tlsOptions: { ca: server.caCert },
            retryOptions: { maxRetries: 0 },
        });
    });
    afterAll(async () => {
        await server?.stop();
    });

    function powerState(view: { statuses?: Array<{ code?: string }> } | undefined): string | undefined {
        return view?.statuses?.map((s) => s.code).find((c) => c?.startsWith("PowerState/"));
    }

    test("the package loads (a dev dependency)", () => {
        expect(typeof sdk).toBe("object");
    });

    test("instanceView and get (with and without $expand=instanceView) read the power state", async () => {
        server.addVm({ subscriptionId, resourceGroupName: group, vmName: "read-1" });
        const view = await client.virtualMachines.instanceView(group, "read-1");
        expect(powerState(view)).toBe("PowerState/running");
        expect(view.statuses?.find((s) => s.code?.startsWith("ProvisioningState/"))).toMatchObject({ level: "Info" });
        const expanded = await client.virtualMachines.get(group, "read-1", { expand: "instanceView" });
        expect(expanded).toMatchObject({ name: "read-1", type: "Microsoft.Compute/virtualMachines", provisioningState: "Succeeded" });
        expect(powerState(expanded.instanceView)).toBe("PowerState/running");
        const plain = await client.virtualMachines.get(group, "read-1");
        expect(plain.instanceView).toBeUndefined();
        expect(server.armRequests().every((r) => r.auth === "bearer" && r.query["api-version"] !== undefined)).toBe(true);
    });

    test("powerOff with skipShutdown false: the guest shuts down, the LRO ends, the VM is stopped", async () => {
        const vm = server.addVm({ subscriptionId, resourceGroupName: group, vmName: "off-1", guest: { kind: "shutsDown", afterMs: 100 } });
        await client.virtualMachines.beginPowerOffAndWait(group, "off-1", { skipShutdown: false, ...poll });
        expect(vm.powerState).toBe("stopped");
        expect(vm.lastStop).toBe("guest");
        const sent = server.armRequests().find((r) => r.method === "POST" && r.path.endsWith("/off-1/powerOff"));
        expect(sent?.query.skipShutdown).toBe("false");
        expect(powerState(await client.virtualMachines.instanceView(group, "off-1"))).toBe("PowerState/stopped");
    });

    test("powerOff with skipShutdown true: no guest shutdown, stopped", async () => {
        const vm = server.addVm({ subscriptionId, resourceGroupName: group, vmName: "off-2", guest: { kind: "ignoresShutdown" } });
        await client.virtualMachines.beginPowerOffAndWait(group, "off-2", { skipShutdown: true, ...poll });
        expect(vm.powerState).toBe("stopped");
        expect(vm.lastStop).toBe("skipShutdown");
        const sent = server.armRequests().find((r) => r.method === "POST" && r.path.endsWith("/off-2/powerOff"));
        expect(sent?.query.skipShutdown).toBe("true");
    });

    test("start and deallocate run to completion through the SDK's poller", async () => {
        const vm = server.addVm({ subscriptionId, resourceGroupName: group, vmName: "cycle-1", powerState: "stopped" });
        await client.virtualMachines.beginStartAndWait(group, "cycle-1", poll);
        expect(vm.powerState).toBe("running");
        await client.virtualMachines.beginDeallocateAndWait(group, "cycle-1", poll);
        expect(vm.powerState).toBe("deallocated");
        expect(powerState(await client.virtualMachines.instanceView(group, "cycle-1"))).toBe("PowerState/deallocated");
    });

    test("errors: a missing VM is 404 ResourceNotFound, powerOff of a deallocated VM is 409 OperationNotAllowed", async () => {
        const missing = await client.virtualMachines.instanceView(group, "nope").catch((e: unknown) => e);
        expect(missing).toMatchObject({ name: "RestError", statusCode: 404, code: "ResourceNotFound" });
        server.addVm({ subscriptionId, resourceGroupName: group, vmName: "dealloc-1", powerState: "deallocated" });
        const refused = await client.virtualMachines.beginPowerOffAndWait(group, "dealloc-1", poll).catch((e: unknown) => e);
        expect(refused).toMatchObject({ statusCode: 409, code: "OperationNotAllowed" });
        expect((refused as Error).message).toContain("deallocated");
    });

    test("errors: a failed operation fails the SDK's poller with the ARM error code", async () => {
        server.addVm({ subscriptionId, resourceGroupName: group, vmName: "fail-1", powerState: "stopped" });
        server.failNextOperation("start", { code: "AllocationFailed", message: "Allocation failed. We do not have sufficient capacity." });
        const failed = await client.virtualMachines.beginStartAndWait(group, "fail-1", poll).catch((e: unknown) => e);
        expect(failed).toBeInstanceOf(Error);
        expect(`${(failed as { code?: string }).code} ${(failed as Error).message}`).toContain("AllocationFailed");
    });

    test("errors: a revoked token is 401 InvalidAuthenticationToken to the SDK", async () => {
        server.addVm({ subscriptionId, resourceGroupName: group, vmName: "auth-1" });
        server.revokeTokens();
        const answer = await client.virtualMachines.instanceView(group, "auth-1").catch((e: unknown) => e);
        // The bearer policy keeps its cached token until it nears expiry, so the 401 reaches the caller.
        expect(answer).toMatchObject({ name: "RestError", statusCode: 401, code: "InvalidAuthenticationToken" });
        expect(credential.tokensRequested).toBe(1);
    });
});
