import * as https from "https";
import type { IncomingMessage, ServerResponse } from "http";
import type { AddressInfo } from "net";
import type { TLSSocket } from "tls";
import { TestCertificate, makeSelfSignedCertificate } from "./cert";
import { SimulatedTask, SimulatedVm, VmOptions } from "./model";
import { EndpointSchema, checkParameters, findEndpoint, loadSchema, privilegesFor } from "./schema";

/**
 * A local HTTPS server that speaks the Proxmox VE API for QEMU power operations as published
 * (fixtures/, the PVE API schema): `{"data": ...}` envelopes; errors as an HTTP status whose
 * reason phrase is the message, with `{"data": null, "message", "errors"?}`; API-token auth;
 * power POSTs that answer a UPID and run as worker tasks. It encodes the contract and shares
 * no code with the client under test. Tests steer it through the object (same process).
 */

export interface ApiToken {
    /** `user@realm!tokenid` */
    readonly id: string;
    readonly secret: string;
    /**
     * Privileges: `VM.Audit`, `VM.PowerMgmt`, the agent privilege of the PVE version
     * (`VM.Monitor` on 8, `VM.GuestAgent.Audit` on 9), `Sys.Audit` (read others' tasks),
     * `Sys.Modify` (abort others' tasks, e.g. with `overrule-shutdown`).
     * @default VM.Audit, VM.PowerMgmt and the version's agent privilege
     */
    readonly privileges?: readonly string[];
}

export interface ContractServerOptions {
    /** PVE delays a refused login by 3 s on purpose. @default 3000 */
    readonly authFailureDelayMs?: number;
    /** How long vm_stop/vm_start wait for the config flock a shutdown task holds. @default 10000 */
    readonly configLockTimeoutMs?: number;
    /** SIGTERM-to-exit grace of a forced stop (qemu exits at once on SIGTERM unless this says otherwise). @default 20 */
    readonly sigtermExitMs?: number;
    /** How long QMP `quit` takes to end the process. @default 50 */
    readonly quitDelayMs?: number;
    /** The cluster's nodes. @default ["pve1"] */
    readonly nodes?: readonly string[];
    /** Parameters this (older) PVE does not know yet, e.g. `overrule-shutdown` before 8.1. @default [] */
    readonly unsupportedParameters?: readonly string[];
    /** The PVE major version: `/version` answers it and the privilege checks follow it. @default "9" */
    readonly pveVersion?: PveMajor;
    /**
     * The HA stack's loop: a queued request is taken by the CRM on its next round and carried
     * out by the node's LRM one round later. (pve-ha-crm/lrm work in rounds of about 10 s.) @default 10000
     */
    readonly haRoundMs?: number;
    /** How long qemu-server's `guest-ping` waits for an agent that is enabled but silent. @default 3000 */
    readonly agentPingTimeoutMs?: number;
}

export type PveMajor = "8" | "9";

/** What `/version` answers per major version. */
const versions: Record<PveMajor, { version: string; release: string; repoid: string }> = {
    "8": { version: "8.4.14", release: "8.4", repoid: "b502d23c55afcba1" },
    "9": { version: "9.1.1", release: "9.1", repoid: "42db4a6cf33dac83" },
};

/** A down node as pveproxy on another node answers for it: status, reason phrase, empty body. */
export interface NodeFailure {
    /** 595: the proxy could not connect; 596: the connection broke or timed out. @default 595 */
    readonly status?: 595 | 596;
    /** @default "No route to host" (595), "Connection timed out" (596) */
    readonly reason?: string;
}

/** One request to the HA manager (`ha-manager crm-command stop|start`), and what became of it. */
export interface HaRequest {
    readonly at: number;
    readonly command: "stop" | "start";
    readonly vmid: number;
    /** For `stop`: the shutdown timeout HA uses before it forces the VM off; 0 is a hard stop. */
    readonly timeoutS: number;
    outcome: "queued" | "ignored (a stop is already under way)" | "carried out" | "not HA-managed";
}

export interface RequestRecord {
    readonly at: number;
    readonly method: string;
    readonly path: string;
    readonly status: number;
    readonly parameters: Record<string, unknown>;
}

const powerPrivilege = "VM.PowerMgmt";
const auditPrivilege = "VM.Audit";

export class ProxmoxContractServer {
    readonly tokens = new Map<string, ApiToken>();
    readonly vms = new Map<number, SimulatedVm>();
    readonly tasks = new Map<string, SimulatedTask>();
    readonly requests: RequestRecord[] = [];
    /** Answers the next matching request with this error instead (status, message, optionally `Retry-After`), once. */
    readonly injectedFailures: Array<{ method: string; pathSuffix: string; status: number; message: string; retryAfter?: string }> = [];
    /** Requests to the HA manager, oldest first. */
    readonly haRequests: HaRequest[] = [];
    /** Nodes that do not answer; requests proxied to them fail with 595/596. */
    readonly downNodes = new Map<string, Required<NodeFailure>>();
    /**
     * TLS handshakes completed, and how many of them resumed an earlier session: what a
     * client's connections cost the server (an API token needs no login, so this is the
     * "login" count of a Proxmox client).
     */
    readonly tls = { handshakes: 0, resumed: 0 };
    private readonly haQueue: HaRequest[] = [];
    private haTimer?: NodeJS.Timeout;
    readonly certificate: TestCertificate;
    private readonly schema: EndpointSchema[];
    private readonly server: https.Server;
    private readonly options: Required<ContractServerOptions>;
    /** Operation → privileges, for the PVE version at hand (from the schema fixture). */
    private readonly privileges: Readonly<Record<string, readonly string[]>>;
    private nextPid = 0x3a1b2;
    private port = 0;

    private constructor(options: ContractServerOptions) {
        this.options = {
            authFailureDelayMs: options.authFailureDelayMs ?? 3000,
            configLockTimeoutMs: options.configLockTimeoutMs ?? 10_000,
            sigtermExitMs: options.sigtermExitMs ?? 20,
            quitDelayMs: options.quitDelayMs ?? 50,
            nodes: options.nodes ?? ["pve1"],
            unsupportedParameters: options.unsupportedParameters ?? [],
            pveVersion: options.pveVersion ?? "9",
            haRoundMs: options.haRoundMs ?? 10_000,
            agentPingTimeoutMs: options.agentPingTimeoutMs ?? 3000,
        };
        this.privileges = privilegesFor(this.options.pveVersion);
        this.schema = withoutParameters(loadSchema(), this.options.unsupportedParameters);
        this.certificate = makeSelfSignedCertificate();
        this.server = https.createServer({ key: this.certificate.key, cert: this.certificate.cert }, (req, res) => {
            this.handle(req, res).catch((e: unknown) =>
                this.send(res, req, 500, { data: null, message: `internal contract-server error: ${String(e)}` }, {}),
            );
        });
        this.server.on("secureConnection", (socket: TLSSocket) => {
            this.tls.handshakes++;
            if (socket.isSessionReused()) this.tls.resumed++;
        });
    }

    static async start(options: ContractServerOptions = {}): Promise<ProxmoxContractServer> {
        const server = new ProxmoxContractServer(options);
        await new Promise<void>((resolve, reject) => {
            server.server.once("error", reject);
            server.server.listen(0, "127.0.0.1", () => resolve());
        });
        server.port = (server.server.address() as AddressInfo).port;
        server.haTimer = setInterval(() => server.haRound(), server.options.haRoundMs);
        server.haTimer.unref();
        return server;
    }

    /** `https://127.0.0.1:<port>`, the endpoint a client is given. */
    get endpoint(): string {
        return `https://127.0.0.1:${this.port}`;
    }

    /** The agent privilege of this PVE version: `VM.Monitor` (8) or `VM.GuestAgent.Audit` (9). */
    get agentPrivilege(): string {
        return this.privileges["agent/ping"][0];
    }

    /** The node stops answering: requests proxied to it get `failure` (595 by default). */
    setNodeDown(node: string, failure: NodeFailure = {}): void {
        const status = failure.status ?? 595;
        this.downNodes.set(node, { status, reason: failure.reason ?? (status === 595 ? "No route to host" : "Connection timed out") });
    }

    setNodeUp(node: string): void {
        this.downNodes.delete(node);
    }

    /** The VM moves to `node` (a migration, or HA recovering it after a node failure). */
    migrateVm(vmid: number, node: string): void {
        const vm = this.vms.get(vmid);
        if (!vm) throw new Error(`no VM ${vmid}`);
        vm.node = node;
    }

    addToken(token: ApiToken): string {
        this.tokens.set(token.id, token);
        return `${token.id}=${token.secret}`;
    }

    addVm(options: VmOptions): SimulatedVm {
        const vm = new SimulatedVm(options);
        this.vms.get(vm.vmid)?.dispose();
        this.vms.set(vm.vmid, vm);
        return vm;
    }

    /** Tasks of one VM, oldest first. */
    tasksOf(vmid: number, type?: string): SimulatedTask[] {
        return [...this.tasks.values()].filter((t) => t.id === String(vmid) && (type === undefined || t.type === type));
    }

    async stop(): Promise<void> {
        clearInterval(this.haTimer);
        for (const vm of this.vms.values()) vm.dispose();
        for (const task of this.tasks.values()) task.abort.abort();
        this.server.closeAllConnections();
        await new Promise<void>((resolve) => this.server.close(() => resolve()));
    }

    private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
        const url = new URL(req.url ?? "/", "https://localhost");
        const method = req.method ?? "GET";
        const body = await readBody(req);
        const prefix = "/api2/json";
        if (!url.pathname.startsWith(`${prefix}/`)) {
            return this.send(res, req, 501, { data: null, message: `Method '${method} ${url.pathname}' not implemented` }, {});
        }
        const apiPath = url.pathname.slice(prefix.length);

        const token = await this.authenticate(req.headers.authorization);
        if (typeof token === "string") return this.send(res, req, 401, { data: null, message: token }, {});

        const found = findEndpoint(this.schema, apiPath);
        const methodSchema = found?.endpoint.info[method];
        if (!found || !methodSchema) {
            return this.send(res, req, 501, { data: null, message: `Method '${method} ${apiPath}' not implemented` }, {});
        }
        let input: Record<string, unknown>;
        try {
            input = { ...Object.fromEntries(url.searchParams), ...parseBody(req.headers["content-type"], body), ...found.pathParameters };
        } catch {
            return this.send(
                res,
                req,
                400,
                { data: null, message: "Parameter verification failed.", errors: { body: "unable to parse request body" } },
                {},
            );
        }
        const { values, errors } = checkParameters(methodSchema, input);
        for (const rootOnly of ["skiplock", "keepActive", "migratedfrom", "nocheck"]) {
            // Tokens act as `root@pam!id`, which is not `root@pam`.
            if (values[rootOnly] !== undefined && !errors[rootOnly]) errors[rootOnly] = "Only root may use this option.";
        }
        if (Object.keys(errors).length > 0) {
            return this.send(res, req, 400, { data: null, message: "Parameter verification failed.", errors }, input);
        }
        const injected = this.injectedFailures.findIndex((f) => f.method === method && apiPath.endsWith(f.pathSuffix));
        if (injected >= 0) {
            const [failure] = this.injectedFailures.splice(injected, 1);
            const headers: Record<string, string> = failure.retryAfter !== undefined ? { "Retry-After": failure.retryAfter } : {};
            return this.send(res, req, failure.status, { data: null, message: failure.message }, input, headers);
        }
        const node = String(values.node);
        if (values.node !== undefined && !this.options.nodes.includes(node)) {
            // Not established from the sources: the proxy to an unknown node fails; this is our stand-in.
            return this.send(
                res,
                req,
                500,
                {
                    data: null,
                    message: `hostname lookup '${node}' failed - failed to get address info for: ${node}: Name or service not known`,
                },
                input,
            );
        }
        const down = methodSchema.proxyto === "node" ? this.downNodes.get(node) : undefined;
        if (down) {
            // pveproxy relays AnyEvent::HTTP's failure: the status, the error as reason phrase, no body.
            return this.sendEmpty(res, req, down.status, down.reason, input);
        }
        const answer = this.route(methodSchema.name, values, token);
        return this.send(res, req, answer.status, answer.body, input);
    }

    /** Returns the token, or the 401 message after PVE's deliberate delay. */
    private async authenticate(header: string | undefined): Promise<ApiToken | string> {
        if (!header) return "No ticket";
        const match = /^PVEAPIToken[= ](\S+@\S+?![^=\s]+)=(\S+)$/.exec(header.trim());
        const token = match ? this.tokens.get(match[1]) : undefined;
        if (!token || token.secret !== match?.[2]) {
            await new Promise((r) => setTimeout(r, this.options.authFailureDelayMs));
            return "authentication failure";
        }
        return token;
    }

    private route(name: string, p: Record<string, unknown>, token: ApiToken): { status: number; body: Record<string, unknown> } {
        const vmid = Number(p.vmid);
        const node = String(p.node);
        const can = (privilege: string): boolean => this.tokenPrivileges(token).includes(privilege);
        const denied = (path: string, privilege: string) => ({
            status: 403,
            body: { data: null, message: `Permission check failed (${path}, ${privilege})` },
        });
        const ok = (data: unknown) => ({ status: 200, body: { data } });
        const died = (message: string) => ({ status: 500, body: { data: null, message } });
        const vm = this.vms.get(vmid);
        const vmOnNode = vm && vm.node === node ? vm : undefined;

        switch (name) {
            case "vm_status": {
                if (!can(auditPrivilege)) return denied(`/vms/${vmid}`, auditPrivilege);
                if (!vmOnNode) return died(`Configuration file 'nodes/${node}/qemu-server/${vmid}.conf' does not exist`);
                return ok(vmOnNode.currentStatus());
            }
            case "vm_shutdown":
            case "vm_stop":
            case "vm_start":
            case "vm_resume":
            case "vm_suspend":
            case "vm_reset":
            case "vm_reboot":
                if (!can(powerPrivilege)) return denied(`/vms/${vmid}`, powerPrivilege);
                return this.powerAction(name, node, vmid, vmOnNode, p, token);
            case "ping": {
                if (!can(this.agentPrivilege)) return denied(`/vms/${vmid}`, this.agentPrivilege);
                if (!vmOnNode) return died(`Configuration file 'nodes/${node}/qemu-server/${vmid}.conf' does not exist`);
                if (!vmOnNode.running) return died(`VM ${vmid} is not running`);
                if (!vmOnNode.guest.agentConfigured) return died("No QEMU guest agent configured");
                if (!vmOnNode.agentRunning) return died("QEMU guest agent is not running");
                return ok({ result: {} });
            }
            case "read_task_status":
            case "read_task_log":
            case "stop_task":
            case "upid_index":
                return this.taskAction(name, node, String(p.upid), p, token);
            case "vmlist":
                if (!can(auditPrivilege)) return ok([]);
                return ok([...this.vms.values()].filter((v) => v.node === node).map((v) => v.listEntry(Boolean(p.full))));
            case "version":
                return ok(versions[this.options.pveVersion]);
            case "resources":
                return ok(this.clusterResources(String(p.type ?? ""), can(auditPrivilege)));
            default:
                return { status: 501, body: { data: null, message: `Method '${name}' not implemented in the contract server` } };
        }
    }

    private powerAction(
        name: string,
        node: string,
        vmid: number,
        vm: SimulatedVm | undefined,
        p: Record<string, unknown>,
        token: ApiToken,
    ) {
        const pausedStates = ["paused", "prelaunch", "suspended"];
        if (name === "vm_shutdown" && vm?.running && pausedStates.includes(vm.qmpstatus) && !p.forceStop) {
            // Checked before forking: a shutdown would time out and still fire when the guest resumes.
            return { status: 500, body: { data: null, message: "VM is paused - cannot shutdown" } };
        }
        if (name === "vm_stop" && p["overrule-shutdown"] && vm?.haManaged) {
            return {
                status: 400,
                body: {
                    data: null,
                    message: "Parameter verification failed.",
                    errors: { "overrule-shutdown": "Not applicable for HA resources." },
                },
            };
        }
        const types: Record<string, string> = {
            vm_shutdown: vm?.haManaged ? "hastop" : "qmshutdown",
            vm_stop: vm?.haManaged ? "hastop" : "qmstop",
            vm_start: vm?.haManaged ? "hastart" : "qmstart",
            vm_resume: "qmresume",
            vm_suspend: "qmsuspend",
            vm_reset: "qmreset",
            vm_reboot: "qmreboot",
        };
        const task = this.fork(node, types[name], String(vmid), token.id, async (t) => {
            if (!vm) throw new Error(`unable to find configuration file for VM ${vmid} on node '${node}'`);
            if (vm.haManaged && (name === "vm_shutdown" || name === "vm_stop" || name === "vm_start")) {
                // The hastop/hastart task only hands the request to the HA manager and ends.
                const command = name === "vm_start" ? "start" : "stop";
                const timeoutS = name === "vm_shutdown" ? (p.timeout !== undefined ? Number(p.timeout) : 60) : 0;
                t.write(`Requesting HA ${command} for VM ${vmid}`);
                const request: HaRequest = { at: Date.now(), command, vmid, timeoutS, outcome: "queued" };
                this.haRequests.push(request);
                this.haQueue.push(request);
                return;
            }
            switch (name) {
                case "vm_shutdown":
                    return this.shutdownWorker(t, vm, p);
                case "vm_stop":
                    return this.stopWorker(t, vm, p, token);
                case "vm_start":
                    return this.startWorker(t, vm);
                case "vm_resume":
                    if (vm.running && pausedStates.includes(vm.qmpstatus)) vm.qmpstatus = "running";
                    return;
                case "vm_suspend":
                    if (!vm.running) throw new Error(`VM ${vmid} not running`);
                    if (p.todisk) {
                        // Hibernation: the state goes to disk, the process ends, the config keeps `lock: suspended`.
                        vm.stop("suspended to disk");
                        vm.lock = "suspended";
                        return;
                    }
                    vm.qmpstatus = "paused";
                    return;
                default:
                    throw new Error(`${name} is not simulated`);
            }
        });
        return { status: 200, body: { data: task.upid } };
    }

    /** qemu-server vm_shutdown → vm_stop(shutdown=1): agent or ACPI, poll, fail or force at the timeout. */
    private async shutdownWorker(t: SimulatedTask, vm: SimulatedVm, p: Record<string, unknown>): Promise<void> {
        const force = Boolean(p.forceStop);
        if (vm.running && ["paused", "prelaunch", "suspended"].includes(vm.qmpstatus)) {
            t.warn("VM is paused - stop instead of shutdown");
            return this.stopWorker(t, vm, {});
        }
        const release = await vm.configLock.acquire(this.options.configLockTimeoutMs, t.abort.signal);
        if (!release) throw new Error(`can't lock file '/var/lock/qemu-server/lock-${vm.vmid}.conf' - got timeout`);
        try {
            if (!vm.running) return;
            if (vm.lock) throw new Error(`VM is locked (${vm.lock})`);
            const timeoutS = p.timeout !== undefined ? Number(p.timeout) : 60;
            let commandFailed = false;
            if (vm.guest.agentConfigured && !vm.agentRunning) {
                // qga_check_running: a guest-ping with a 3 s timeout, and its failure is a warning.
                await t.sleep(this.options.agentPingTimeoutMs);
                t.warn(`QEMU Guest Agent is not running - VM ${vm.vmid} qmp command 'guest-ping' failed - got timeout`);
            }
            if (vm.guest.agentConfigured && vm.agentRunning) {
                if (vm.guest.agentShutdownFails) {
                    t.write("guest-shutdown: agent command error: Guest agent command failed, error was 'Failed to execute child process'");
                    commandFailed = true;
                } else {
                    vm.askGuestToShutDown("agent");
                }
            } else {
                vm.askGuestToShutDown("acpi");
            }
            if (commandFailed && !force) throw new Error("VM quit/powerdown failed");
            const until = Date.now() + timeoutS * 1000;
            while (!commandFailed && vm.running && Date.now() < until) await t.sleep(Math.min(1000, Math.max(0, until - Date.now())));
            if (!vm.running) return;
            if (!force) throw new Error("VM quit/powerdown failed - got timeout");
            t.warn("VM still running - terminating now with SIGTERM");
            await t.sleep(this.options.sigtermExitMs);
            vm.stop("SIGTERM after shutdown timeout");
        } finally {
            release();
        }
    }

    /**
     * qemu-server vm_stop(shutdown=0, force=1): optionally abort qmshutdown tasks first, then
     * quit. `overrule-shutdown` aborts the caller's own shutdown tasks, and others' only with
     * Sys.Modify (the same rule as DELETE on a task); the rest keep the config lock.
     */
    private async stopWorker(t: SimulatedTask, vm: SimulatedVm, p: Record<string, unknown>, token?: ApiToken): Promise<void> {
        if (p["overrule-shutdown"]) {
            const mayAbortOthers = token === undefined || this.tokenPrivileges(token).includes("Sys.Modify");
            for (const other of this.tasksOf(vm.vmid, "qmshutdown")) {
                if (other.status === "running" && (mayAbortOthers || other.authId === token?.id)) {
                    t.write(`overruling active shutdown task ${other.upid}`);
                    other.abort.abort();
                    await other.done;
                }
            }
        }
        const release = await vm.configLock.acquire(this.options.configLockTimeoutMs, t.abort.signal);
        if (!release) throw new Error(`can't lock file '/var/lock/qemu-server/lock-${vm.vmid}.conf' - got timeout`);
        try {
            if (!vm.running) return;
            if (vm.lock) throw new Error(`VM is locked (${vm.lock})`);
            await t.sleep(this.options.quitDelayMs);
            vm.stop("stop (QMP quit)");
        } finally {
            release();
        }
    }

    private async startWorker(t: SimulatedTask, vm: SimulatedVm): Promise<void> {
        const release = await vm.configLock.acquire(this.options.configLockTimeoutMs, t.abort.signal);
        if (!release) throw new Error(`can't lock file '/var/lock/qemu-server/lock-${vm.vmid}.conf' - got timeout`);
        try {
            if (vm.template) throw new Error("you can't start a vm if it's a template");
            // The schema's `todisk`: "Will be resumed on next VM start." The suspended lock does not block it.
            const hibernated = vm.lock === "suspended";
            if (vm.lock && !hibernated) throw new Error(`VM is locked (${vm.lock})`);
            if (vm.running) throw new Error(`VM ${vm.vmid} already running`);
            await t.sleep(vm.guest.startDelayMs);
            if (hibernated) {
                t.write("resuming VM from the state saved on disk");
                vm.lock = undefined;
            }
            vm.start(hibernated ? "resumed from disk" : "start");
        } finally {
            release();
        }
    }

    private taskAction(name: string, node: string, upidText: string, p: Record<string, unknown>, token: ApiToken) {
        const bad = (message: string) => ({
            status: 400,
            body: { data: null, message: "Parameter verification failed.", errors: { upid: message } },
        });
        const parts = /^UPID:([^:]+):([0-9A-F]{8}):([0-9A-F]{8,9}):([0-9A-F]{8}):([^:]+):([^:]*):([^:]+):$/i.exec(upidText);
        if (!parts) return bad("unable to parse worker upid");
        const task = this.tasks.get(upidText);
        if (!task || task.node !== node) return bad("no such task");
        if (task.authId !== token.id && !this.tokenPrivileges(token).includes("Sys.Audit")) {
            return { status: 403, body: { data: null, message: `Permission check failed (/nodes/${node}, Sys.Audit)` } };
        }
        switch (name) {
            case "upid_index":
                return { status: 200, body: { data: [{ name: "log" }, { name: "status" }] } };
            case "stop_task":
                if (task.authId !== token.id && !this.tokenPrivileges(token).includes("Sys.Modify")) {
                    return { status: 403, body: { data: null, message: `Permission check failed (/nodes/${node}, Sys.Modify)` } };
                }
                if (task.status === "running") task.abort.abort();
                return { status: 200, body: { data: null } };
            case "read_task_log": {
                const start = Number(p.start ?? 0);
                const limit = Number(p.limit ?? 50);
                const lines = task.log.map((t, i) => ({ n: i + 1, t })).slice(start, start + limit);
                return { status: 200, body: { data: lines, total: task.log.length } };
            }
            default: {
                const [user, tokenid] = task.authId.split("!");
                return {
                    status: 200,
                    body: {
                        data: {
                            upid: task.upid,
                            node: task.node,
                            pid: task.pid,
                            pstart: task.pstart,
                            starttime: task.starttime,
                            type: task.type,
                            id: task.id,
                            user,
                            ...(tokenid ? { tokenid } : {}),
                            status: task.status,
                            ...(task.status === "stopped" ? { exitstatus: task.exitstatus } : {}),
                        },
                    },
                };
            }
        }
    }

    private tokenPrivileges(token: ApiToken): readonly string[] {
        return token.privileges ?? [auditPrivilege, powerPrivilege, this.agentPrivilege];
    }

    /**
     * `GET /cluster/resources`: answered from the cluster file system by the node asked, so a
     * down node's VMs are still listed (status `unknown`) and a migrated VM shows its new node.
     */
    private clusterResources(type: string, audit: boolean): Array<Record<string, unknown>> {
        const nodes = this.options.nodes.map((n) => ({
            id: `node/${n}`,
            type: "node",
            node: n,
            status: this.downNodes.has(n) ? "offline" : "online",
        }));
        const vms = audit
            ? [...this.vms.values()].map((vm) => {
                  const s = vm.currentStatus();
                  const down = this.downNodes.has(vm.node);
                  return {
                      id: `qemu/${vm.vmid}`,
                      type: "qemu",
                      node: vm.node,
                      vmid: vm.vmid,
                      name: vm.name,
                      status: down ? "unknown" : vm.status,
                      template: vm.template ? 1 : 0,
                      maxcpu: s.cpus,
                      maxmem: s.maxmem,
                      maxdisk: s.maxdisk,
                      ...(down ? {} : { cpu: s.cpu, mem: s.mem, uptime: s.uptime, disk: 0 }),
                      ...(vm.haManaged ? { hastate: vm.haState } : {}),
                      ...(vm.lock ? { lock: vm.lock } : {}),
                  };
              })
            : [];
        if (type === "vm") return vms;
        if (type === "node") return nodes;
        if (type === "storage" || type === "sdn") return [];
        return [...nodes, ...vms];
    }

    /**
     * One round of the HA stack (pve-ha-crm, then the node's pve-ha-lrm a round later). A stop
     * takes the service to `request_stop`, and the LRM shuts the VM down with the request's
     * timeout and forceStop (timeout 0: a hard stop), as root@pam. A stop arriving while one
     * is under way is not run again.
     */
    private haRound(): void {
        for (const request of this.haQueue.splice(0)) {
            const vm = this.vms.get(request.vmid);
            if (!vm || !vm.haManaged) {
                request.outcome = "not HA-managed";
                continue;
            }
            if (request.command === "stop") {
                if (vm.haState === "request_stop") {
                    request.outcome = "ignored (a stop is already under way)";
                    continue;
                }
                request.outcome = "carried out";
                if (!vm.running) {
                    vm.haState = "stopped";
                    continue;
                }
                vm.haState = "request_stop";
                this.afterRound(() => {
                    const hard = request.timeoutS === 0;
                    const task = this.fork(vm.node, hard ? "qmstop" : "qmshutdown", String(vm.vmid), "root@pam", (t) =>
                        hard ? this.stopWorker(t, vm, {}) : this.shutdownWorker(t, vm, { timeout: request.timeoutS, forceStop: true }),
                    );
                    void task.done.then(() => (vm.haState = vm.running ? "started" : "stopped"));
                });
            } else {
                request.outcome = "carried out";
                vm.haState = "started";
                if (vm.running) continue;
                this.afterRound(() => {
                    this.fork(vm.node, "qmstart", String(vm.vmid), "root@pam", (t) => this.startWorker(t, vm));
                });
            }
        }
    }

    private afterRound(action: () => void): void {
        setTimeout(action, this.options.haRoundMs).unref();
    }

    private fork(node: string, type: string, id: string, authId: string, work: (task: SimulatedTask) => Promise<void>): SimulatedTask {
        const pid = this.nextPid++;
        const pstart = 0x00f0c0de + pid;
        const starttime = Math.floor(Date.now() / 1000);
        const hex = (n: number, width: number): string => n.toString(16).toUpperCase().padStart(width, "0");
        const upid = `UPID:${node}:${hex(pid, 8)}:${hex(pstart, 8)}:${hex(starttime, 8)}:${type}:${id}:${authId}:`;
        const task = new SimulatedTask(upid, node, pid, pstart, starttime, type, id, authId, work);
        this.tasks.set(upid, task);
        return task;
    }

    private send(
        res: ServerResponse,
        req: IncomingMessage,
        status: number,
        body: Record<string, unknown>,
        parameters: Record<string, unknown>,
        headers: Record<string, string> = {},
    ): void {
        this.requests.push({ at: Date.now(), method: req.method ?? "GET", path: (req.url ?? "").split("?")[0], status, parameters });
        const text = JSON.stringify(body);
        const message = typeof body.message === "string" ? body.message : undefined;
        // PVE puts the error message in the reason phrase; it must stay one line.
        res.statusMessage = message ? message.replace(/[\r\n]+/g, " ").trim() : "OK";
        res.writeHead(status, { ...headers, "Content-Type": "application/json;charset=UTF-8", "Content-Length": Buffer.byteLength(text) });
        res.end(text);
    }

    private sendEmpty(
        res: ServerResponse,
        req: IncomingMessage,
        status: number,
        reason: string,
        parameters: Record<string, unknown>,
    ): void {
        this.requests.push({ at: Date.now(), method: req.method ?? "GET", path: (req.url ?? "").split("?")[0], status, parameters });
        res.statusMessage = reason;
        res.writeHead(status, { "Content-Length": 0 });
        res.end();
    }
}

function withoutParameters(schema: EndpointSchema[], dropped: readonly string[]): EndpointSchema[] {
    if (dropped.length === 0) return schema;
    return schema.map((endpoint) => ({
        ...endpoint,
        info: Object.fromEntries(
            Object.entries(endpoint.info).map(([method, info]) => [
                method,
                {
                    ...info,
                    parameters: {
                        ...info.parameters,
                        properties: Object.fromEntries(
                            Object.entries(info.parameters.properties ?? {}).filter(([key]) => !dropped.includes(key)),
                        ),
                    },
                },
            ]),
        ),
    }));
}

function readBody(req: IncomingMessage): Promise<string> {
    return new Promise((resolve, reject) => {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
        req.on("error", reject);
    });
}

/** Form bodies give strings; JSON bodies keep their types (so `true` is a boolean there). */
function parseBody(contentType: string | undefined, body: string): Record<string, unknown> {
    if (body.trim() === "") return {};
    if ((contentType ?? "").startsWith("application/json")) {
        const parsed: unknown = JSON.parse(body);
        if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("not an object");
        return parsed as Record<string, unknown>;
    }
    return Object.fromEntries(new URLSearchParams(body));
}
