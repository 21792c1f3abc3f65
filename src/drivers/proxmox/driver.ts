import { Clock } from "../../power/clock";
import { Driver, GuestShutdownRequest, GuestToolsStatus, ObservedState } from "../../power/driver";
import { AuthenticationError, GracefulShutdownUnavailableError, VmNotFoundError } from "../../power/errors";
import { ObservedPowerState } from "../../power/states";
import { DriverContext, DriverFactory } from "../platform";
import { ProxmoxClient } from "./client";
import { ProxmoxApiError, ProxmoxTaskError, ProxmoxVmLockedError, isMissingVmMessage, lockFromMessage } from "./errors";
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
    readonly ha?: { readonly managed?: number };
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
    /** Per HTTP request. @default 30000 */
    readonly requestTimeoutMs?: number;
    /** Consecutive failed reads tolerated while polling before the error is raised. @default 3 */
    readonly maxPollFailures?: number;
}

/** A status read this recently is as good as a new one. */
const freshReadingMs = 250;

export const createDriver: DriverFactory<ProxmoxTarget, ProxmoxCredentials> = (target, credentials, context) =>
    new ProxmoxDriver(target, credentials, context);

/**
 * A Proxmox VE QEMU VM over the REST API. Proxmox has no event stream for VM state, so waiting
 * is polling `status/current` (one request per interval); a shutdown's own task is watched
 * only right after the request, to catch immediate failures.
 */
export class ProxmoxDriver implements Driver {
    readonly platform = "proxmox";
    readonly vmDescription: string;
    readonly client: ProxmoxClient;
    private readonly clock: Clock;
    private readonly log: (message: string) => void;
    private readonly vmPath: string;
    private readonly pollIntervalMs: number;
    private readonly taskPollIntervalMs: number;
    private readonly earlyFailureWindowMs: number;
    private readonly taskTimeoutMs: number;
    private readonly maxPollFailures: number;
    private lastStatus?: { readonly at: number; readonly value: VmStatus };

    constructor(target: ProxmoxTarget, credentials: ProxmoxCredentials, context: DriverContext, options: ProxmoxDriverOptions = {}) {
        this.vmDescription = proxmoxSpec.describe(target);
        this.clock = context.clock;
        this.log = context.log;
        this.vmPath = `/nodes/${encodeURIComponent(target.node)}/qemu/${target.vmId}`;
        this.pollIntervalMs = options.pollIntervalMs ?? 1000;
        this.taskPollIntervalMs = options.taskPollIntervalMs ?? 500;
        this.earlyFailureWindowMs = options.earlyFailureWindowMs ?? 600;
        this.taskTimeoutMs = options.taskTimeoutMs ?? 90_000;
        this.maxPollFailures = options.maxPollFailures ?? 3;
        this.client = new ProxmoxClient({
            endpoint: target.endpoint,
            apiToken: credentials.apiToken,
            insecure: target.insecure,
            caCert: target.caCert,
            fingerprint: target.fingerprint,
            requestTimeoutMs: options.requestTimeoutMs,
        });
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
        return isAgentEnabled(status)
            ? { available: true, detail: "guest agent enabled in the VM config: guest-shutdown if it answers, ACPI power button otherwise" }
            : { available: true, detail: "guest agent not enabled in the VM config: ACPI power button" };
    }

    async requestGuestShutdown(deadline: number): Promise<GuestShutdownRequest> {
        // PVE takes whole seconds and treats 0 as "give up at once"; its task then ends at about our deadline.
        const timeoutSeconds = Math.max(1, Math.ceil((deadline - this.clock.now()) / 1000));
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
        const early = await this.watchEarly(upid, deadline);
        if (early && !taskSucceeded(early.exitstatus)) {
            const failure = await this.taskFailure(upid, early.exitstatus);
            throw new GracefulShutdownUnavailableError("gracefulRequestFailed", failure.message);
        }
        const agent = this.lastStatus ? isAgentEnabled(this.lastStatus.value) : false;
        return {
            method: "pve-shutdown",
            detail: `${upid.type} task ${upid.text}, timeout ${timeoutSeconds}s, ${agent ? "guest agent (guest-shutdown) or ACPI" : "ACPI power button"}`,
        };
    }

    /**
     * `status/stop` with `overrule-shutdown` so a `qmshutdown` task still holding the VM's
     * config lock is aborted instead of making the stop wait for it (and time out on the lock).
     * HA-managed VMs do not allow that flag; their stop goes through the HA stack.
     */
    async powerOffHard(): Promise<void> {
        const haManaged = (await this.recentStatus()).ha?.managed === 1;
        let upid: Upid;
        try {
            upid = await this.startTask("status/stop", haManaged ? {} : { "overrule-shutdown": true });
        } catch (e) {
            // Older PVE releases reject the unknown flag (400); their stop then waits for the shutdown task's lock.
            if (!(e instanceof ProxmoxApiError && e.status === 400 && e.parameterErrors?.["overrule-shutdown"])) throw e;
            this.log(`${this.vmDescription}: this Proxmox VE does not support overrule-shutdown; stopping without it`);
            upid = await this.startTask("status/stop", {});
        }
        await this.finishTask(upid);
    }

    async powerOn(): Promise<void> {
        const state = observe(await this.readStatus()).state;
        if (state === "paused" || state === "suspended") {
            await this.finishTask(await this.startTask("status/resume", {}));
            return;
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
        let latest: ObservedState | undefined;
        let failures = 0;
        for (;;) {
            try {
                latest = await this.readState();
                failures = 0;
            } catch (e) {
                if (e instanceof AuthenticationError || e instanceof VmNotFoundError || ++failures >= this.maxPollFailures) throw e;
                this.log(
                    `reading ${this.vmDescription} failed (${failures}/${this.maxPollFailures}), retrying: ${e instanceof Error ? e.message : String(e)}`,
                );
            }
            const left = deadline - this.clock.now();
            if ((latest && targets.includes(latest.state)) || left <= 0) {
                if (latest) return latest;
                throw new Error(`could not read the state of ${this.vmDescription} before the deadline`);
            }
            await this.clock.sleep(Math.min(this.pollIntervalMs, left));
        }
    }

    /** Pings the agent through PVE (`agent/ping`) until it answers. */
    async waitForGuestAgent(deadline: number): Promise<boolean> {
        for (;;) {
            try {
                await this.client.post<unknown>(`${this.vmPath}/agent/ping`);
                return true;
            } catch (e) {
                if (!(e instanceof ProxmoxApiError)) throw e;
                if (/No QEMU guest agent configured/i.test(e.pveMessage)) {
                    this.log(`${this.vmDescription} has no guest agent enabled in its config; it will never answer`);
                    return false;
                }
            }
            const left = deadline - this.clock.now();
            if (left <= 0) return false;
            await this.clock.sleep(Math.min(this.pollIntervalMs, left));
        }
    }

    async close(): Promise<void> {
        this.client.close();
    }

    private async readStatus(): Promise<VmStatus> {
        let status: VmStatus;
        try {
            status = await this.client.get<VmStatus>(`${this.vmPath}/status/current`);
        } catch (e) {
            throw this.vmError(e);
        }
        this.lastStatus = { at: this.clock.now(), value: status };
        return status;
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
            throw this.vmError(e);
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

    private vmError(error: unknown): unknown {
        if (error instanceof ProxmoxApiError) {
            if (isMissingVmMessage(error.pveMessage)) return new VmNotFoundError(this.vmDescription, error.pveMessage);
            const lock = lockFromMessage(error.pveMessage);
            if (lock) return new ProxmoxVmLockedError(this.vmDescription, lock);
        }
        return error;
    }
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
