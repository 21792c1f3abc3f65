import { AzureDriver } from "../../src/drivers/azure/driver";
import { azureSpec } from "../../src/drivers/azure/spec";
import { ProxmoxDriver } from "../../src/drivers/proxmox/driver";
import { systemClock } from "../../src/power/clock";
import { Driver } from "../../src/power/driver";
import { AzureContractServer } from "../contracts/azure/server";
import { ProxmoxContractServer } from "../contracts/proxmox";
import type { ContractCase } from "./cases";
import { FaultProxy } from "./faultProxy";

/** How the guest answers a shutdown request. */
export type GuestKind = "quick" | "slow" | "hung" | "lostFirstPress" | "alreadyOff";

/** The times one case runs with (ms). */
export interface Timing {
    readonly quickMs: number;
    readonly slowMs: number;
    readonly gracefulTimeoutMs: number;
    readonly verifyTimeoutMs: number;
    readonly callTimeoutMs: number;
    /** How often the graceful request is repeated while the guest shows no sign of shutting down. @default 700 */
    readonly gracefulRepeatMs?: number;
    /**
     * What a fault's time past 0 counts from: the run's start, or the start of the graceful wait
     * (the request delivered), where reaching the endpoint takes a while (an SSH login, a
     * request carried over it). Faults at 0 always hit the start.
     * @default "start"
     */
    readonly faultsFrom?: "start" | "wait";
}

/** Milliseconds: small, so one case runs in seconds. */
export const timing: Timing = { quickMs: 300, slowMs: 1_200, gracefulTimeoutMs: 2_500, verifyTimeoutMs: 4_000, callTimeoutMs: 1_500 };

/** What the platform says the VM is, read past the driver. */
export type PeerState = "running" | "stopped";

/**
 * One VM on one platform's peer or contract server, reached through our fault proxy. Optional
 * switches are those a platform has no equivalent for (no HTTP on a local libvirt socket): a case
 * using one applies only where it exists (`needs`).
 */
export interface PlatformEnv {
    /** Between the driver and the endpoint (TCP); absent on a local socket. */
    readonly proxy?: FaultProxy;
    /** This platform's times when the defaults do not fit (real guests take seconds). @default timing */
    readonly timing?: Timing;
    driver(): Driver;
    /** Someone else powers the VM off hard (not through our driver). */
    externalHardOff(): Promise<void>;
    /** Someone else powers the VM on. */
    externalPowerOn(): Promise<void>;
    deleteVm(): void | Promise<void>;
    /** The next `count` state reads (vSphere: calls) fail with a 5xx, with or without Retry-After. */
    burst5xx?(count: number, retryAfter: boolean): void;
    /** The next graceful request fails once with a 5xx. */
    failNextRequest5xx?(): void;
    /** Credentials stop working (expiry, rotation, vSphere: session terminated); a platform with refreshable tokens recovers. */
    expireCredentials?(): void;
    /** Whether expired credentials are renewed by the driver (Azure tokens) or fatal (Proxmox API tokens). */
    readonly credentialsRenew?: boolean;
    /** The graceful request is accepted and then ends failed (Proxmox agent error, Azure operation Failed). */
    failGracefulLater?(): void;
    /**
     * The platform's own daemon (libvirtd) stops and starts again `downMs` after it has stopped;
     * meanwhile connections are refused. `Infinity`: it stays down until the case ends.
     */
    restartDaemon?(downMs: number): Promise<void>;
    /**
     * The daemon is stopped with SIGSTOP: connections are accepted and never answered, calls in
     * flight hang. Thawed after `ms`, or only when the case ends when `ms` is undefined.
     */
    freezeDaemon?(ms?: number): void;
    /** Proxmox: the VM moves to another node of the cluster. */
    migrate?(): void;
    /** The guest agent comes and goes. */
    flapAgent?(): void;
    /** vSphere: the next `count` graceful requests answer this vim25 fault. */
    failGracefulRequest?(fault: "SystemError" | "TaskInProgress", count: number): Promise<void>;
    /** vSphere: VMware Tools stop running (the graceful request is impossible). */
    toolsNotRunning?(): Promise<void>;
    /** vSphere: the server holds every API call for `ms` (the service hung, connections fine). */
    freezeApi?(ms: number): Promise<void>;
    /** The guest shuts itself down (from inside, not our request): its own, not someone else's. */
    guestShutsDownItself?(): Promise<void>;
    peerState(): PeerState | Promise<PeerState>;
    close(): Promise<void>;
}

export interface Platform {
    readonly name: string;
    /** A peer that scripts/test.sh starts (skipped where it is absent, failed on CI). */
    readonly peer?: { readonly name: string; readonly variables: readonly string[] };
    /** Only these cases of the table (by name): a variant that differs from its main platform in a few. */
    readonly onlyCases?: readonly string[];
    /**
     * The optional switches its environments have, when known up front: a case needing another
     * is not applicable without starting a guest (a real one costs seconds). Unset: checked on
     * the started environment.
     */
    readonly switches?: readonly (keyof PlatformEnv)[];
    /**
     * Cases this family leaves to another family of the same platform (the same guest behaviour
     * over another transport), to keep its time: not applicable here. Unset: none.
     */
    readonly leaves?: (c: ContractCase) => boolean;
    start(guest: GuestKind): Promise<PlatformEnv>;
}

const pveToken = { id: "automation@pve!contract", secret: "7b1f4c2e-contract-suite-token" };

export const proxmox: Platform = {
    name: "proxmox",
    async start(guest) {
        const server = await ProxmoxContractServer.start({ authFailureDelayMs: 50, nodes: ["pve1", "pve2"], quitDelayMs: 20 });
        server.addToken({ ...pveToken, privileges: ["VM.Audit", "VM.PowerMgmt", "VM.GuestAgent.Audit", "Sys.Audit"] });
        const vm = server.addVm({
            vmid: 100,
            status: guest === "alreadyOff" ? "stopped" : "running",
            shutdownDelayMs: guest === "hung" ? "never" : guest === "slow" ? timing.slowMs : timing.quickMs,
        });
        if (guest === "lostFirstPress") {
            // Booting: the first press reaches no ACPI listener.
            const original = vm.askGuestToShutDown.bind(vm);
            let presses = 0;
            vm.askGuestToShutDown = (how) => {
                if (++presses > 1) original(how);
            };
        }
        const proxy = await FaultProxy.start(Number(new URL(server.endpoint).port));
        const failure = (status: number, message: string) => ({ method: "GET", pathSuffix: "/qemu/100/status/current", status, message });
        return {
            proxy,
            credentialsRenew: false,
            driver: () =>
                new ProxmoxDriver(
                    {
                        endpoint: `https://127.0.0.1:${proxy.port}`,
                        node: vm.node === "pve2" ? "pve2" : "pve1",
                        vmId: 100,
                        insecure: false,
                        fingerprint: server.certificate.fingerprint256,
                    },
                    { apiToken: `${pveToken.id}=${pveToken.secret}` },
                    { clock: systemClock, log: () => undefined },
                    { pollIntervalMs: 100, taskPollIntervalMs: 50, earlyFailureWindowMs: 300, requestTimeoutMs: timing.callTimeoutMs },
                ),
            async externalHardOff() {
                // root's `qm stop --overrule-shutdown 1`: aborts our qmshutdown task and quits QEMU.
                for (const task of server.tasksOf(100, "qmshutdown")) if (task.status === "running") task.abort.abort();
                vm.stop("qm stop by root");
            },
            async externalPowerOn() {
                vm.start("qm start by root");
            },
            deleteVm: () => {
                vm.dispose();
                server.vms.delete(100);
            },
            burst5xx: (count) => {
                for (let i = 0; i < count; i++) server.injectedFailures.push(failure(503, "Service Unavailable"));
            },
            failNextRequest5xx: () =>
                server.injectedFailures.push({
                    method: "POST",
                    pathSuffix: "/status/shutdown",
                    status: 503,
                    message: "Service Unavailable",
                }),
            expireCredentials: () => server.tokens.delete(pveToken.id),
            failGracefulLater: () => {
                vm.guest.agentConfigured = true;
                vm.guest.agentInstalled = true;
                vm.agentRunning = true;
                vm.guest.agentShutdownFails = true;
            },
            migrate: () => server.migrateVm(100, "pve2"),
            flapAgent: () => {
                vm.guest.agentConfigured = true;
                vm.guest.agentInstalled = true;
                let on = true;
                const timer = setInterval(() => (vm.agentRunning = on = !on), 150);
                timer.unref();
            },
            peerState: () => (vm.running ? "running" : "stopped"),
            async close() {
                await proxy.stop();
                await server.stop();
            },
        };
    },
};

const az = {
    subscriptionId: "6f1c2b6e-0d5e-4a36-9a7c-3f1a2b3c4d5e",
    tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47",
    clientId: "0d5a1f3e-8c2b-4e7a-9f10-aa11bb22cc33",
    clientSecret: "Sx8Q~contract-suite-secret-9e1d",
    resourceGroupName: "rg-contract",
};

export const azure: Platform = {
    name: "azure",
    async start(guest) {
        const server = await AzureContractServer.start({
            principals: [{ tenantId: az.tenantId, clientId: az.clientId, clientSecret: az.clientSecret }],
            operationMs: 100,
            retryAfterSeconds: 0,
        });
        const vm = server.addVm({
            subscriptionId: az.subscriptionId,
            resourceGroupName: az.resourceGroupName,
            vmName: "web-1",
            powerState: guest === "alreadyOff" ? "stopped" : "running",
            guest:
                guest === "hung" || guest === "lostFirstPress"
                    ? { kind: "ignoresShutdown" }
                    : { kind: "shutsDown", afterMs: guest === "slow" ? timing.slowMs : timing.quickMs },
        });
        const proxy = await FaultProxy.start(Number(new URL(server.url).port));
        const url = `https://127.0.0.1:${proxy.port}`;
        server.advertiseOrigin(url);
        const drivers: AzureDriver[] = [];
        return {
            proxy,
            credentialsRenew: true,
            driver: () => {
                const target = azureSpec.parseTarget(
                    {
                        subscriptionId: az.subscriptionId,
                        resourceGroupName: az.resourceGroupName,
                        vmName: "web-1",
                        tenantId: az.tenantId,
                        clientId: az.clientId,
                        credential: "clientSecret",
                        resourceManagerEndpoint: url,
                        authorityHost: url,
                        caCert: server.caCert,
                    },
                    "target.azure",
                );
                const driver = new AzureDriver(
                    target,
                    { clientSecret: az.clientSecret },
                    { clock: systemClock, log: (m) => process.env.CONTRACT_DEBUG && process.stderr.write(`${m}\n`) },
                    { maxPollIntervalMs: 200, requestTimeoutMs: timing.callTimeoutMs - 300 },
                );
                drivers.push(driver);
                return driver;
            },
            async externalHardOff() {
                // Someone else's client: powerOff with skipShutdown, straight to ARM.
                const other = new AzureDriver(
                    azureSpec.parseTarget(
                        {
                            subscriptionId: az.subscriptionId,
                            resourceGroupName: az.resourceGroupName,
                            vmName: "web-1",
                            tenantId: az.tenantId,
                            clientId: az.clientId,
                            credential: "clientSecret",
                            resourceManagerEndpoint: server.url,
                            authorityHost: server.url,
                            caCert: server.caCert,
                        },
                        "target.azure",
                    ),
                    { clientSecret: az.clientSecret },
                    { clock: systemClock, log: () => undefined },
                );
                await other.powerOffHard().finally(() => other.close());
            },
            async externalPowerOn() {
                vm.setState("running", "start by someone else");
            },
            deleteVm: () =>
                server.inject({
                    path: /web-1/,
                    status: 404,
                    body: {
                        error: {
                            code: "ResourceNotFound",
                            message: "The Resource 'Microsoft.Compute/virtualMachines/web-1' was not found.",
                        },
                    },
                    times: 1_000,
                }),
            burst5xx: (count, retryAfter) =>
                server.inject({
                    method: "GET",
                    path: /instanceView$/,
                    status: 503,
                    headers: retryAfter ? { "Retry-After": "1" } : {},
                    body: { error: { code: "ServiceUnavailable", message: "try later" } },
                    times: count,
                }),
            failNextRequest5xx: () =>
                server.inject({
                    method: "POST",
                    path: /powerOff$/,
                    status: 500,
                    body: { error: { code: "InternalServerError", message: "transient" } },
                }),
            expireCredentials: () => server.revokeTokens(),
            failGracefulLater: () => server.failNextOperation("powerOff", { code: "VMAgentStatusCommunicationError", message: "agent" }),
            peerState: () => (vm.powerState === "running" ? "running" : "stopped"),
            async close() {
                for (const d of drivers) await d.close().catch(() => undefined);
                await proxy.stop();
                await server.stop();
            },
        };
    },
};
