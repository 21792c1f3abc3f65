import { ProxmoxDriver, ProxmoxDriverOptions } from "../../src/drivers/proxmox/driver";
import { ProxmoxTarget } from "../../src/drivers/proxmox/spec";
import { systemClock } from "../../src/power/clock";
import { ProxmoxContractServer } from "../contracts/proxmox";

/** Fast polling for tests; the defaults (1 s) suit real clusters. */
export const fastOptions: ProxmoxDriverOptions = { pollIntervalMs: 100, taskPollIntervalMs: 50, earlyFailureWindowMs: 300 };

export const tokenSecret = "d3b07384-d9a0-4c9b-8f1e-5c2a7e6b1f42";
export const tokenId = "automation@pve!pulumi";
export const apiToken = `${tokenId}=${tokenSecret}`;

export interface PveFixture {
    readonly server: ProxmoxContractServer;
    readonly logs: string[];
    target(vmId: number, overrides?: Partial<ProxmoxTarget>): ProxmoxTarget;
    driver(vmId: number, overrides?: Partial<ProxmoxTarget>, options?: ProxmoxDriverOptions, token?: string): ProxmoxDriver;
}

export async function startPve(options: Parameters<typeof ProxmoxContractServer.start>[0] = {}): Promise<PveFixture> {
    const server = await ProxmoxContractServer.start({ authFailureDelayMs: 100, ...options });
    server.addToken({ id: tokenId, secret: tokenSecret });
    const logs: string[] = [];
    const target = (vmId: number, overrides: Partial<ProxmoxTarget> = {}): ProxmoxTarget => ({
        endpoint: server.endpoint,
        node: "pve1",
        vmId,
        insecure: false,
        fingerprint: server.certificate.fingerprint256,
        ...overrides,
    });
    return {
        server,
        logs,
        target,
        driver: (vmId, overrides = {}, driverOptions = fastOptions, token = apiToken) =>
            new ProxmoxDriver(
                target(vmId, overrides),
                { apiToken: token },
                { clock: systemClock, log: (m) => logs.push(m) },
                driverOptions,
            ),
    };
}
