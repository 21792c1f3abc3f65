import { AzureDriver, AzureDriverOptions } from "../../src/drivers/azure/driver";
import { AzureCredentials, AzureTarget, azureSpec } from "../../src/drivers/azure/spec";
import { systemClock } from "../../src/power/clock";
import { AzureContractServer, ContractServerOptions, FakeVm, FakeVmSpec } from "../contracts/azure/server";

export const subscriptionId = "6f1c2b6e-0d5e-4a36-9a7c-3f1a2b3c4d5e";
export const tenantId = "72f988bf-86f1-41af-91ab-2d7cd011db47";
export const clientId = "0d5a1f3e-8c2b-4e7a-9f10-aa11bb22cc33";
/** Distinctive, so a grep for it cannot match anything by accident. */
export const clientSecret = "Sx8Q~azure-contract-secret-4f9d2c7b";
export const resourceGroupName = "rg-graceful";

export interface Rig {
    readonly server: AzureContractServer;
    readonly vm: FakeVm;
    readonly logs: string[];
    target(overrides?: Record<string, unknown>): AzureTarget;
    driver(options?: AzureDriverOptions, credentials?: AzureCredentials, targetOverrides?: Record<string, unknown>): AzureDriver;
}

const open: Array<{ close(): Promise<void> }> = [];

/** The user's raw target for VM `vmName` on `server`, signing in with the test principal's secret. */
export function rawAzureTarget(server: Pick<AzureContractServer, "url" | "caCert">, vmName: string): Record<string, unknown> {
    return {
        subscriptionId,
        resourceGroupName,
        vmName,
        tenantId,
        clientId,
        credential: "clientSecret",
        resourceManagerEndpoint: server.url,
        authorityHost: server.url,
        caCert: server.caCert,
    };
}

/** A contract server with one VM, and drivers pointed at it with the test CA. */
export async function startRig(options: ContractServerOptions = {}, vm: Partial<FakeVmSpec> = {}): Promise<Rig> {
    const server = await AzureContractServer.start({ principals: [{ tenantId, clientId, clientSecret }], ...options });
    open.push({ close: () => server.stop() });
    const fakeVm = server.addVm({ subscriptionId, resourceGroupName, vmName: "web-1", ...vm });
    const logs: string[] = [];
    const target = (overrides: Record<string, unknown> = {}): AzureTarget =>
        azureSpec.parseTarget({ ...rawAzureTarget(server, fakeVm.spec.vmName), ...overrides }, "target.azure");
    return {
        server,
        vm: fakeVm,
        logs,
        target,
        driver(options = {}, credentials = { clientSecret }, targetOverrides = {}) {
            const driver = new AzureDriver(
                target(targetOverrides),
                credentials,
                { clock: systemClock, log: (m) => logs.push(m) },
                { maxPollIntervalMs: 500, ...options },
            );
            open.push(driver);
            return driver;
        },
    };
}

/** Closes every server and driver the test opened. Call from afterEach. */
export async function closeAll(): Promise<void> {
    for (const item of open.splice(0).reverse()) await item.close();
}
