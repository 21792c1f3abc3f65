import { Clock } from "../../power/clock";
import { Driver, GuestShutdownRequest, GuestToolsStatus, ObservedState } from "../../power/driver";
import { AuthenticationError, GracefulShutdownUnavailableError, TransientError, VmNotFoundError, isTransient } from "../../power/errors";
import { pollUntil } from "../common/pollUntil";
import { ObservedPowerState } from "../../power/states";
import { DriverContext, DriverFactory, SessionSupport } from "../platform";
import { ProxmoxClient } from "./client";
import {
    ProxmoxApiError,
    ProxmoxHaStopError,
    ProxmoxNodeDownError,
    ProxmoxPermissionError,
    ProxmoxStopBlockedError,
    ProxmoxTaskError,
    ProxmoxVmLockedError,
    isMissingVmMessage,
    isNodeUnreachableStatus,
    lockFromMessage,
} from "./errors";
import { describePrivileges } from "./privileges";
import { ClusterResource, NodeVmEntry, ProxmoxSession, findVm, proxmoxSessions } from "./session";
import { ProxmoxCredentials, ProxmoxTarget, proxmoxSpec } from "./spec";
import { TaskStatus, Upid, parseUpid, readTaskStatus, taskLogTail, taskSucceeded, waitForTask } from "./tasks";

/** `GET /nodes/{node}/qemu/{vmid}/status/current`, the fields this driver reads. */
export interface VmStatus {
    /** The QEMU process: `running` iff its pid is alive. */
    readonly status: "running" | "stopped";
    /** QMP run state while running (`running`, `paused`, `prelaunch`, `suspended`, `shutdown`, ...); equals `status` otherwise. */
    readonly qmpstatus?: string;
    /** Sent (as 1) only when the guest agent is enabled in the VM config. */
    readonly agent?: number | boolean;
    readonly lock?: string;
    /** pve-ha-manager's view: `managed` 1 for an HA resource, `state` its service state (`started`, `request_stop`, `stopped`, ...). */
    readonly ha?: { readonly managed?: number; readonly state?: string };
    readonly name?: string;
}

/** Knobs for tests and benchmarks; the defaults suit a real cluster. */
export interface ProxmoxDriverOptions {
    /** How often `waitForState` reads `status/current`. @default 1000 */
    readonly pollIntervalMs?: number;
    /** How often a task's status is read while waiting for it. @default 500 */
    readonly taskPollIntervalMs?: number;
    /**
     * After a shutdown request, how long to watch its task for an immediate failure (lock, agent
     * error) so the fallback starts at once instead of at the deadline. @default 600
     */
    readonly earlyFailureWindowMs?: number;
    /** How long a stop/start/resume task may run before the sequence's own verification takes over. @default 90000 */
    readonly taskTimeoutMs?: number;
    /** The wall-clock bound of one try of an HTTP request, TLS handshake included. @default 30000 */
    readonly requestTimeoutMs?: number;
    /**
     * How long the HA stack may take beyond a request's own shutdown timeout to carry it out:
     * the CRM takes it on its next round, the node's LRM acts a round later (rounds of about
     * 10 s), and a forced stop has 10 s of SIGTERM grace. @default 30000
     */
    readonly haGraceMs?: number;
}

/** What `observe` makes of a VM whose QEMU process runs (status `running`). */
const processRunningStates: readonly ObservedPowerState[] = ["running", "paused", "suspended", "stopping"];

/** A status read this recently is as good as a new one. */
const freshReadingMs = 250;

export const createDriver: DriverFactory<ProxmoxTarget, ProxmoxCredentials> = (target, credentials, context) =>
    new ProxmoxDriver(target, credentials, context);

/** A fleet run shares one connection per endpoint and API token (see ProxmoxSession). */
export const sessions: SessionSupport<ProxmoxTarget, ProxmoxCredentials> = proxmoxSessions;

/**
 * A Proxmox VE QEMU VM over the REST API. Proxmox has no event stream for VM state, so waiting
 * is polling `status/current` (one request per interval); a shutdown's own task is watched
 * only right after the request, to catch immediate failures.
 */
export class ProxmoxDriver implements Driver {
    readonly platform = "proxmox";
    readonly vmDescription: string;
    readonly client: ProxmoxClient;
    /** The fleet run's shared session for this endpoint, if any. */
    private readonly session?: ProxmoxSession;
    private readonly clock: Clock;
    private readonly log: (message: string) => void;
    private readonly vmId: number;
    /** The node the VM is on: the target's, or where `/cluster/resources` found it after a migration. */
    private node: string;
    private vmPath: string;
    private readonly haGraceMs: number;
    /** Our HA stop request, while HA carries it out: when, and the shutdown timeout HA was given. */
    private haStop?: { readonly at: number; readonly timeoutSeconds: number };
    private pveMajor?: Promise<number | undefined>;
    private readonly pollIntervalMs: number;
    private readonly taskPollIntervalMs: number;
    private readonly earlyFailureWindowMs: number;
    private readonly taskTimeoutMs: number;
    private lastStatus?: { readonly at: number; readonly value: VmStatus };
    /** When this VM's own `status/current` was last asked for, answered or not. */
    private lastAskedAt = Number.NEGATIVE_INFINITY;
    /** Our own qmshutdown task: how it ended tells the guest's shutdown from someone's hard stop. */
    private shutdownTask?: Upid;
    /** How our latest shutdown task ended, once it had. */
    private shutdownTaskEnd?: { readonly upid: string; readonly status: TaskStatus };

    constructor(target: ProxmoxTarget, credentials: ProxmoxCredentials, context: DriverContext, options: ProxmoxDriverOptions = {}) {
        this.vmDescription = proxmoxSpec.describe(target);
        this.clock = context.clock;
        this.log = context.log;
        this.vmId = target.vmId;
        this.node = target.node;
        this.vmPath = vmPathOf(target.node, target.vmId);
        this.haGraceMs = options.haGraceMs ?? 30_000;
        this.pollIntervalMs = options.pollIntervalMs ?? 1000;
        this.taskPollIntervalMs = options.taskPollIntervalMs ?? 500;
        this.earlyFailureWindowMs = options.earlyFailureWindowMs ?? 600;
        this.taskTimeoutMs = options.taskTimeoutMs ?? 90_000;
        // Servers echo the secret half alone too (`...=SECRET`): scrub it on its own.
        context.registerSecret?.(credentials.apiToken.slice(credentials.apiToken.indexOf("=") + 1));
        const calls = { clock: context.clock, log: context.log, requestTimeoutMs: options.requestTimeoutMs };
        if (context.session instanceof ProxmoxSession) {
            // A fleet: this VM's requests ride the endpoint's shared agent; close() ends only them.
            this.session = context.session;
            this.client = new ProxmoxClient(context.session.connection, calls);
        } else {
            this.client = ProxmoxClient.connect({
                endpoint: target.endpoint,
                apiToken: credentials.apiToken,
                insecure: target.insecure,
                caCert: target.caCert,
                fingerprint: target.fingerprint,
                ...calls,
            });
        }
    }

    async readState(): Promise<ObservedState> {
        return observe(await this.readStatus());
    }

    /**
     * Proxmox can always ask: with the agent enabled in the config and answering, it sends
     * `guest-shutdown`, otherwise an ACPI power-button press. This reports which, and stops a
     * locked VM here with a clear error before any request is made.
     */
    async checkGuestTools(): Promise<GuestToolsStatus> {
        const status = await this.recentStatus();
        if (status.lock && status.status === "running") throw new ProxmoxVmLockedError(this.vmDescription, status.lock);
        if (isHaManaged(status)) {
            return {
                available: true,
                detail:
                    `HA-managed (ha.state ${status.ha?.state ?? "unknown"}): the shutdown is a request to the HA manager, which ` +
                    `shuts the guest down itself (${isAgentEnabled(status) ? "guest agent or ACPI" : "ACPI power button"}) and ` +
                    `forces it off (forceStop) when its timeout ends; a hard stop cannot overrule it`,
            };
        }
        return isAgentEnabled(status)
            ? { available: true, detail: "guest agent enabled in the VM config: guest-shutdown if it answers, ACPI power button otherwise" }
            : { available: true, detail: "guest agent not enabled in the VM config: ACPI power button" };
    }

    async requestGuestShutdown(deadline: number): Promise<GuestShutdownRequest> {
        // PVE takes whole seconds and treats 0 as "give up at once"; its task then ends at about our deadline.
        const timeoutSeconds = Math.max(1, Math.ceil((deadline - this.clock.now()) / 1000));
        const status = await this.recentStatus();
        if (isHaManaged(status)) return this.requestHaStop(status, timeoutSeconds, deadline);
        // Asked again (the guest showed no sign of stopping): our earlier qmshutdown task holds
        // the VM's config lock for its whole timeout, so a new one would only wait for it. End it
        // first; a power-off already under way in the guest goes on regardless.
        if (this.shutdownTask) await this.abortOwnTask(this.shutdownTask);
        let upid: Upid;
        try {
            upid = await this.startTask("status/shutdown", { timeout: timeoutSeconds });
        } catch (e) {
            if (e instanceof ProxmoxApiError && /VM is paused/.test(e.pveMessage)) {
                throw new GracefulShutdownUnavailableError(
                    "guestFrozen",
                    `${this.vmDescription} is paused; Proxmox refuses a graceful shutdown (${e.pveMessage})`,
                );
            }
            throw e;
        }
        this.shutdownTask = upid;
        // The request is delivered once PVE answered with a task: a failed look at it afterwards
        // (a reset, a restarting pveproxy) must not turn into a second request.
        const early = await this.watchEarly(upid, deadline).catch(() => undefined);
        if (early && !taskSucceeded(early.exitstatus)) {
            const failure = await this.taskFailure(upid, early.exitstatus);
            throw new GracefulShutdownUnavailableError("gracefulRequestFailed", failure.message);
        }
        const agent = this.lastStatus ? isAgentEnabled(this.lastStatus.value) : false;
        return {
            method: "pve-shutdown",
            detail:
                `${upid.type} task ${upid.text}, timeout ${timeoutSeconds}s, ` +
                (agent
                    ? "guest agent (guest-shutdown) if it answers PVE's 3 s guest-ping, ACPI otherwise (a silent agent ends the task WARNINGS: 1)"
                    : "ACPI power button"),
        };
    }

    /**
     * `status/shutdown` of an HA resource only queues a stop for the HA manager (an `hastop`
     * task that ends at once). HA carries it out in its next rounds: a shutdown with this
     * timeout, then forceStop. A stop sent while it runs would not run, so the hard phase
     * waits for HA instead (see powerOffHard).
     */
    private async requestHaStop(status: VmStatus, timeoutSeconds: number, deadline: number): Promise<GuestShutdownRequest> {
        if (status.ha?.state === "request_stop") {
            // Someone else's HA stop is under way; ours would be ignored. Its timeout is unknown: assume ours.
            this.haStop = { at: this.clock.now(), timeoutSeconds };
            this.log(`${this.vmDescription}: HA is already stopping this VM (ha.state request_stop); not requesting another stop`);
            return { method: "pve-ha-stop", detail: "an HA stop was already under way (ha.state request_stop)" };
        }
        const upid = await this.startTask("status/shutdown", { timeout: timeoutSeconds });
        this.shutdownTask = upid;
        // The request is delivered once PVE answered with a task: a failed look at it afterwards
        // (a reset, a restarting pveproxy) must not turn into a second request.
        const early = await this.watchEarly(upid, deadline).catch(() => undefined);
        if (early && !taskSucceeded(early.exitstatus)) {
            const failure = await this.taskFailure(upid, early.exitstatus);
            throw new GracefulShutdownUnavailableError("gracefulRequestFailed", failure.message);
        }
        this.haStop = { at: this.clock.now(), timeoutSeconds };
        const detail =
            `HA-managed: requested an HA stop (${upid.type} task ${upid.text}); the HA manager shuts the guest down with ` +
            `timeout ${timeoutSeconds}s and then forces it off (forceStop); it may take up to ${Math.round(this.haGraceMs / 1000)}s more to act`;
        this.log(`${this.vmDescription}: ${detail}`);
        return { method: "pve-ha-stop", detail };
    }

    /**
     * `status/stop` with `overrule-shutdown` so a `qmshutdown` task still holding the VM's
     * config lock is aborted instead of making the stop wait for it (and time out on the lock).
     * HA-managed VMs do not allow that flag; their stop goes through the HA stack.
     */
    async powerOffHard(): Promise<void> {
        if (isHaManaged(await this.recentStatus())) return this.haPowerOff();
        let upid: Upid;
        try {
            upid = await this.startTask("status/stop", { "overrule-shutdown": true });
        } catch (e) {
            // Older PVE releases reject the unknown flag (400); their stop then waits for the shutdown task's lock.
            if (!(e instanceof ProxmoxApiError && e.status === 400 && e.parameterErrors?.["overrule-shutdown"])) throw e;
            this.log(`${this.vmDescription}: this Proxmox VE does not support overrule-shutdown; stopping without it`);
            upid = await this.startTask("status/stop", {});
        }
        try {
            await this.finishTask(upid);
        } catch (e) {
            // overrule-shutdown aborts only the caller's own shutdown tasks unless it has Sys.Modify on the node.
            if (e instanceof ProxmoxTaskError && /can't lock file/.test(e.exitStatus)) {
                throw new ProxmoxStopBlockedError(this.vmDescription, this.node, { cause: e });
            }
            throw e;
        }
    }

    /**
     * HA resources are stopped on the HA manager's terms. While HA carries out our shutdown
     * request it would not run a second stop, so we wait for it: its timeout, then its
     * forceStop, plus its rounds. Without a request of ours, we ask HA for a hard stop
     * (`status/stop`: an `hastop` with timeout 0) and wait for that.
     */
    private async haPowerOff(): Promise<void> {
        let bound: number;
        if (this.haStop) {
            bound = this.haStop.at + this.haStop.timeoutSeconds * 1000 + this.haGraceMs;
            this.log(
                `${this.vmDescription}: HA-managed; HA is still carrying out our stop (timeout ${this.haStop.timeoutSeconds}s, ` +
                    `then forceStop) and would not run another, so waiting up to ${Math.ceil((bound - this.clock.now()) / 1000)}s for it`,
            );
        } else {
            await this.finishTask(await this.startTask("status/stop", {}));
            bound = this.clock.now() + this.haGraceMs;
            this.log(
                `${this.vmDescription}: HA-managed; requested a hard stop from the HA manager, waiting up to ${this.haGraceMs / 1000}s for it`,
            );
        }
        const reached = await this.waitForState(["stopped"], bound);
        if (reached.state === "stopped") return;
        const ha = this.lastStatus?.value.ha?.state ?? "unknown";
        throw new ProxmoxHaStopError(this.vmDescription, ha, reached.state);
    }

    async powerOn(): Promise<void> {
        const state = observe(await this.readStatus()).state;
        if (state === "paused" || state === "suspended") {
            await this.finishTask(await this.startTask("status/resume", {}));
            return;
        }
        if (this.lastStatus && isHaManaged(this.lastStatus.value)) {
            this.log(`${this.vmDescription}: HA-managed; the start is a request to the HA manager, carried out in its next rounds`);
        }
        const upid = await this.startTask("status/start", {});
        try {
            await this.finishTask(upid);
        } catch (e) {
            // Started by someone else since we looked: that is what we wanted.
            if (e instanceof ProxmoxTaskError && /already running/.test(e.exitStatus)) return;
            throw e;
        }
    }

    async waitForState(targets: readonly ObservedPowerState[], deadline: number): Promise<ObservedState> {
        // The sequence verifies right after a wait that just saw the target: that reading is current.
        if (this.lastStatus && this.clock.now() - this.lastStatus.at <= freshReadingMs) {
            const cached = observe(this.lastStatus.value);
            if (targets.includes(cached.state)) return cached;
        }
        let result;
        try {
            result = await pollUntil({
                clock: this.clock,
                deadline,
                intervalMs: this.session ? Math.min(this.pollIntervalMs, this.session.nodePollMs) : this.pollIntervalMs,
                read: () => (this.session ? this.readStateShared(this.session, targets) : this.readState()),
                done: (state) => targets.includes(state.state),
                transient: (e) => isPollTransient(e),
            });
        } catch (e) {
            // Never throw because of the deadline: an endpoint down until the end still has a latest reading.
            if (isPollTransient(e) && this.lastStatus) return observe(this.lastStatus.value);
            throw e instanceof TransientError || !isPollTransient(e) ? e : new TransientError(String(e), { cause: e });
        }
        for (const failure of result.failures) this.log(`reading ${this.vmDescription} failed, retrying: ${failure}`);
        return result.value.state === "stopped" ? this.withStopCause(result.value) : result.value;
    }

    /**
     * A fleet's poll: the node's VM list, shared by every VM waiting on that node, says whether
     * the process is running or stopped. While that is not what this VM waits for, nothing is
     * asked about it alone. A stop it waits for is taken from the list; a running process it
     * may wait for (or a list that does not show the VM: migrated, deleted, a node down) is
     * confirmed by its own `status/current`, with the details (QMP status, lock, HA).
     */
    private async readStateShared(session: ProxmoxSession, targets: readonly ObservedPowerState[]): Promise<ObservedState> {
        const last = this.lastStatus;
        if (!last) return this.readState();
        let entry: NodeVmEntry | undefined;
        try {
            entry = (await session.nodeVms(this.node, this.clock.now() - session.nodePollMs)).get(this.vmId);
        } catch (e) {
            // A node down or an endpoint restarting: each VM goes on with its own reads, but at
            // its own pace (pollIntervalMs), not at the shared list's.
            if (isPollTransient(e) && this.clock.now() - this.lastAskedAt < this.pollIntervalMs) return observe(last.value);
            return this.readState();
        }
        if (!entry || (entry.status !== "running" && entry.status !== "stopped")) return this.readState();
        if (entry.status === "stopped" && targets.includes("stopped") && !isHaManaged(last.value)) {
            // The list's status comes from where status/current's does (qemu-server's vmstatus:
            // the QEMU process is gone), so a stop needs no confirmation of its own; an HA
            // resource's does, for its HA state.
            const stopped: VmStatus = { ...last.value, status: "stopped", qmpstatus: "stopped", lock: entry.lock };
            this.lastStatus = { at: this.clock.now(), value: stopped };
            return observe(stopped);
        }
        // A running process may be paused, suspended or stopping too: only status/current tells.
        const mayBeTarget =
            entry.status === "stopped" ? targets.includes("stopped") : targets.some((t) => processRunningStates.includes(t));
        const changed = entry.status !== last.value.status || entry.lock !== last.value.lock;
        if (changed || mayBeTarget) return this.readState();
        return observe(last.value);
    }

    /**
     * A VM that stopped while our qmshutdown task ran: the task ends OK when the guest powered
     * off, and "received interrupt" (or another error) when someone's stop overruled it.
     */
    private async withStopCause(state: ObservedState): Promise<ObservedState> {
        if (!this.shutdownTask) return state;
        let task: TaskStatus;
        if (this.shutdownTaskEnd?.upid === this.shutdownTask.text) {
            task = this.shutdownTaskEnd.status;
        } else {
            try {
                task = await readTaskStatus(this.client, this.shutdownTask);
            } catch {
                return state;
            }
        }
        if (task.status !== "stopped") return state;
        // How a task ended does not change: the next look (the verification) need not ask again.
        this.shutdownTaskEnd = { upid: this.shutdownTask.text, status: task };
        const guest = taskSucceeded(task.exitstatus);
        return {
            ...state,
            stoppedBy: guest ? "guest" : "external",
            detail: `${state.detail ?? ""}; our ${this.shutdownTask.type} task ended ${task.exitstatus ?? "without status"}`,
        };
    }

    private async abortOwnTask(upid: Upid): Promise<void> {
        try {
            const status = await readTaskStatus(this.client, upid);
            if (status.status !== "running") return;
            await this.client.delete<unknown>(`/nodes/${encodeURIComponent(upid.node)}/tasks/${encodeURIComponent(upid.text)}`);
            await waitForTask(this.client, upid, this.clock, this.clock.now() + 2_000, this.taskPollIntervalMs);
        } catch (e) {
            this.log(
                `${this.vmDescription}: could not end our earlier shutdown task ${upid.text}: ${e instanceof Error ? e.message : String(e)}`,
            );
        }
    }

    /** Pings the agent through PVE (`agent/ping`) until it answers. */
    async waitForGuestAgent(deadline: number): Promise<boolean> {
        type Ping = "answered" | "silent" | "notConfigured";
        const ping = async (): Promise<Ping> => {
            try {
                await this.client.post<unknown>(`${this.vmPath}/agent/ping`);
                return "answered";
            } catch (e) {
                if (isPollTransient(e)) throw e;
                if (!(e instanceof ProxmoxApiError)) throw await this.explain(e);
                return /No QEMU guest agent configured/i.test(e.pveMessage) ? "notConfigured" : "silent";
            }
        };
        let result;
        try {
            result = await pollUntil({
                clock: this.clock,
                deadline,
                intervalMs: this.pollIntervalMs,
                read: ping,
                done: (p) => p !== "silent",
                transient: isPollTransient,
            });
        } catch (e) {
            // Only an endpoint that never answered until the deadline gets here: the agent did not answer either.
            if (isPollTransient(e) && this.clock.now() >= deadline) return false;
            throw e;
        }
        for (const failure of result.failures) this.log(`pinging the agent of ${this.vmDescription} failed, retrying: ${failure}`);
        if (result.value === "notConfigured") {
            this.log(`${this.vmDescription} has no guest agent enabled in its config; it will never answer`);
        }
        return result.value === "answered";
    }

    /** Ends this VM's requests; a fleet's shared connection stays open for the other VMs. */
    async close(): Promise<void> {
        this.client.close();
    }

    private async readStatus(): Promise<VmStatus> {
        let status: VmStatus;
        const askedAt = this.clock.now();
        this.lastAskedAt = askedAt;
        try {
            status = await this.client.get<VmStatus>(`${this.vmPath}/status/current`);
        } catch (e) {
            if (!(await this.followMigration(e, askedAt))) throw await this.vmError(e);
            try {
                status = await this.client.get<VmStatus>(`${this.vmPath}/status/current`);
            } catch (again) {
                throw await this.vmError(again);
            }
        }
        this.lastStatus = { at: this.clock.now(), value: status };
        return status;
    }

    /**
     * A VM that is not on its node (no config there) or whose node does not answer may have
     * migrated, or been recovered by HA elsewhere: the cluster-wide listing says where it is
     * now. Returns true when it is on another node, which the driver then uses.
     */
    private async followMigration(error: unknown, missedAt: number): Promise<boolean> {
        if (!(error instanceof ProxmoxApiError)) return false;
        if (!isMissingVmMessage(error.pveMessage) && !isNodeUnreachableStatus(error.status)) return false;
        let entry: ClusterResource | undefined;
        try {
            entry = await this.locate(missedAt);
        } catch {
            return false;
        }
        if (!entry?.node || entry.node === this.node) return false;
        this.log(`${this.vmDescription}: the VM is on node ${entry.node} now (cluster resources); using that node`);
        this.node = entry.node;
        this.vmPath = vmPathOf(entry.node, this.vmId);
        return true;
    }

    /**
     * Where the cluster listing says this VM is. A fleet's session reads the listing once for
     * every VM that asks at about the same time (a node down, VMs moved by HA).
     */
    private async locate(missedAt: number): Promise<ClusterResource | undefined> {
        if (this.session) return this.session.locate(this.vmId, this.node, missedAt);
        const resources = (await this.client.get<ClusterResource[] | null>("/cluster/resources", { type: "vm" })) ?? [];
        return findVm(resources, this.vmId);
    }

    /** The PVE major version (`/version`, which every token may read), asked once (once per fleet session). */
    private version(): Promise<number | undefined> {
        this.pveMajor ??= this.session
            ? this.session
                  .version()
                  .then((v) => v.major)
                  .catch(() => undefined)
            : this.client
                  .get<{ release?: string; version?: string } | null>("/version")
                  .then((v) => {
                      const major = parseInt(v?.release ?? v?.version ?? "", 10);
                      return Number.isInteger(major) ? major : undefined;
                  })
                  .catch(() => undefined);
        return this.pveMajor;
    }

    /** A 403 gains what the token needs on the PVE version at hand. */
    private async explain(error: unknown): Promise<unknown> {
        if (!(error instanceof ProxmoxPermissionError)) return error;
        const needs = describePrivileges(await this.version(), this.vmId, this.node);
        return new ProxmoxPermissionError(`${error.message}. ${needs}`, error.privilege, error.aclPath, { cause: error });
    }

    /** The sequence read the state moments ago; reuse it rather than ask again. */
    private async recentStatus(): Promise<VmStatus> {
        if (this.lastStatus && this.clock.now() - this.lastStatus.at < 5000) return this.lastStatus.value;
        return this.readStatus();
    }

    private async startTask(action: string, parameters: Record<string, number | boolean>): Promise<Upid> {
        let answer: unknown;
        try {
            answer = await this.client.post<unknown>(`${this.vmPath}/${action}`, parameters);
        } catch (e) {
            throw await this.vmError(e);
        }
        const upid = parseUpid(answer);
        if (!upid)
            throw new Error(
                `Proxmox answered POST ${action} for ${this.vmDescription} with ${JSON.stringify(answer)}, not a task id (UPID)`,
            );
        this.log(`${this.vmDescription}: ${action} started as task ${upid.text}`);
        return upid;
    }

    /** Waits for a stop/start/resume task and throws its error; a task outliving the bound is left to verification. */
    private async finishTask(upid: Upid): Promise<void> {
        const status = await waitForTask(this.client, upid, this.clock, this.clock.now() + this.taskTimeoutMs, this.taskPollIntervalMs);
        if (status.status === "running") {
            this.log(`${this.vmDescription}: task ${upid.text} still running after ${this.taskTimeoutMs} ms`);
            return;
        }
        if (!taskSucceeded(status.exitstatus)) throw await this.taskFailure(upid, status.exitstatus);
    }

    /**
     * One look at the task after a short wait: a lock, a missing config or an agent error ends
     * it within milliseconds, and then the fallback should not wait for the deadline. Returns
     * its status if it stopped, undefined if it is still running (the guest is shutting down).
     */
    private async watchEarly(upid: Upid, deadline: number): Promise<TaskStatus | undefined> {
        const wait = Math.min(this.earlyFailureWindowMs, deadline - this.clock.now());
        if (wait <= 0) return undefined;
        await this.clock.sleep(wait);
        const status = await readTaskStatus(this.client, upid);
        return status.status === "stopped" ? status : undefined;
    }

    private async taskFailure(upid: Upid, exitStatus: string | undefined): Promise<Error> {
        const text = exitStatus ?? "no exit status";
        const lock = lockFromMessage(text);
        if (lock) return new ProxmoxVmLockedError(this.vmDescription, lock);
        if (isMissingVmMessage(text)) return new VmNotFoundError(this.vmDescription, text);
        return new ProxmoxTaskError(upid.text, upid.type, text, await taskLogTail(this.client, upid));
    }

    private async vmError(error: unknown): Promise<unknown> {
        if (error instanceof ProxmoxApiError) {
            if (isNodeUnreachableStatus(error.status)) {
                return new ProxmoxNodeDownError(this.vmDescription, this.node, error);
            }
            if (isMissingVmMessage(error.pveMessage)) return new VmNotFoundError(this.vmDescription, error.pveMessage);
            const lock = lockFromMessage(error.pveMessage);
            if (lock) return new ProxmoxVmLockedError(this.vmDescription, lock);
            // pveproxy restarting or overloaded: worth another try within the deadline.
            // (PVE answers 500 for lasting errors too, "hostname lookup failed": those stay as they are.)
            if (error.status === 429 || error.status === 502 || error.status === 503 || error.status === 504) {
                return new TransientError(error.message, { cause: error, retryAfterMs: error.retryAfterMs });
            }
        }
        return this.explain(error);
    }
}

/** Read failures a wait rides out: no answer, a 5xx or 429 (a restarting pveproxy), a down node. */
function isPollTransient(error: unknown): boolean {
    if (error instanceof AuthenticationError || error instanceof VmNotFoundError) return false;
    if (isTransient(error)) return true;
    return error instanceof ProxmoxApiError && [429, 502, 503, 504, 595, 596].includes(error.status);
}

function vmPathOf(node: string, vmId: number): string {
    return `/nodes/${encodeURIComponent(node)}/qemu/${vmId}`;
}

function isHaManaged(status: VmStatus): boolean {
    return status.ha?.managed === 1;
}

function isAgentEnabled(status: VmStatus): boolean {
    return status.agent === 1 || status.agent === true;
}

/**
 * A running QEMU process may not be executing the guest: QMP `paused`/`prelaunch`/`io-error`
 * and the like mean frozen, `suspended` is guest S3 sleep, `shutdown` is a guest that powered
 * off while the process has yet to exit. A hibernated VM (`lock: suspended`) is stopped.
 */
export function observe(status: VmStatus): ObservedState {
    const detail = [
        `status=${status.status}`,
        ...(status.qmpstatus && status.qmpstatus !== status.status ? [`qmpstatus=${status.qmpstatus}`] : []),
        ...(status.lock ? [`lock=${status.lock}`] : []),
    ].join(" ");
    return { state: observedState(status), detail };
}

function observedState(status: VmStatus): ObservedPowerState {
    if (status.status === "stopped") return "stopped";
    if (status.status !== "running") return "unknown";
    switch (status.qmpstatus ?? "running") {
        case "running":
            return "running";
        case "suspended":
            return "suspended";
        case "shutdown":
            return "stopping";
        default:
            return "paused";
    }
}
