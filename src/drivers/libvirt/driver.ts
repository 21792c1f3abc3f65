import { ChildProcess } from "child_process";
import { Clock } from "../../power/clock";
import { Driver, GuestShutdownRequest, GuestToolsStatus, ObservedState } from "../../power/driver";
import { GracefulShutdownUnavailableError, TransientError, VmNotFoundError, isTransient } from "../../power/errors";
import { ObservedPowerState } from "../../power/states";
import { DriverContext, DriverFactory } from "../platform";
import { pollUntil } from "../common/pollUntil";
import { parseDomstate } from "./domstate";
import { LifecycleWatcher } from "./events";
import { LibvirtCredentials, LibvirtTarget } from "./spec";
import { SshConnectionShare } from "./sshShare";
import { Virsh, VirshError, classifyVirshError, cleanMessage, killGroup } from "./virsh";

/** Tuning that tests and the benchmark change; users never need to. */
export interface LibvirtDriverOptions {
    /** Safety-net poll while waiting, in case an event is lost. @default 2000 */
    readonly pollIntervalMs?: number;
    /** How long `guest-ping` may take before the agent counts as absent. @default 2000 */
    readonly agentPingTimeoutMs?: number;
    /** How long an agent shutdown request may take to fail before it counts as delivered. @default 1500 */
    readonly agentRequestSettleMs?: number;
    /** Listen to libvirt's lifecycle events (false: poll only, for comparison). @default true */
    readonly useEvents?: boolean;
    /** One SSH connection for the run on `qemu+ssh://` (false: a login per call, for comparison). @default true */
    readonly sshConnectionReuse?: boolean;
}

const agentNotThere =
    /guest agent is not connected|guest agent not available|guest agent is not responding|agent not available|not configured|unable to execute qemu agent command|guest agent is not running/i;
const notRunning = /domain is not running/i;

/**
 * A libvirt domain driven through `virsh`: `domstate --reason` to read, `shutdown --mode
 * acpi|agent` to ask, `destroy` to force, `start`/`resume` to power on, and a lifecycle event
 * watcher (with a slow poll behind it) to wait.
 */
export class LibvirtDriver implements Driver {
    readonly platform = "libvirt";
    readonly vmDescription: string;
    private readonly virsh: Virsh;
    private readonly watcher: LifecycleWatcher;
    private readonly clock: Clock;
    private readonly log: (message: string) => void;
    private readonly pollIntervalMs: number;
    private readonly agentPingTimeoutMs: number;
    private readonly agentRequestSettleMs: number;
    private readonly useEvents: boolean;
    /** Background `virsh shutdown --mode agent` calls, which block inside libvirt up to 60 s. */
    private readonly background = new Set<ChildProcess>();
    /** What `auto` decided in checkGuestTools. */
    private agentConnected: boolean | undefined;
    private closed = false;
    /** The ssh ControlMaster behind a `qemu+ssh://` URI, ended at close. */
    private readonly sshShare: SshConnectionShare | undefined;

    constructor(
        private readonly target: LibvirtTarget,
        context: DriverContext,
        options: LibvirtDriverOptions = {},
    ) {
        this.vmDescription = `${target.uri} domain ${target.domain}`;
        this.log = context.log;
        this.sshShare = SshConnectionShare.forUri(target.uri, options.sshConnectionReuse !== false);
        this.virsh = new Virsh(this.sshShare?.uri ?? target.uri, target.commandTimeoutMs, (m) => this.log(`${this.vmDescription}: ${m}`));
        this.clock = context.clock;
        this.pollIntervalMs = options.pollIntervalMs ?? 2000;
        this.agentPingTimeoutMs = options.agentPingTimeoutMs ?? 2000;
        this.agentRequestSettleMs = options.agentRequestSettleMs ?? 1500;
        this.useEvents = options.useEvents ?? true;
        this.watcher = new LifecycleWatcher(this.virsh, target.domain, this.log);
    }

    async readState(deadline?: number): Promise<ObservedState> {
        const { stdout } = await this.call(["domstate", "--reason", "--domain", this.target.domain], deadline);
        return parseDomstate(stdout);
    }

    async checkGuestTools(): Promise<GuestToolsStatus> {
        if (this.target.shutdownMode === "acpi") {
            return { available: true, detail: "not needed: shutdownMode is acpi (ACPI power button)" };
        }
        const ping = await this.pingAgent();
        this.agentConnected = ping.ok;
        if (this.target.shutdownMode === "agent") {
            return ping.ok
                ? { available: true, detail: "QEMU guest agent answered guest-ping" }
                : { available: false, detail: `QEMU guest agent unavailable: ${ping.detail}` };
        }
        return ping.ok
            ? { available: true, detail: "QEMU guest agent answered guest-ping; shutting down through it" }
            : { available: true, detail: `QEMU guest agent unavailable (${ping.detail}); using the ACPI power button` };
    }

    async requestGuestShutdown(deadline: number): Promise<GuestShutdownRequest> {
        this.startWatching();
        const mode = this.target.shutdownMode;
        const useAgent = mode === "agent" || (mode === "auto" && (this.agentConnected ?? (await this.pingAgent()).ok));
        if (useAgent) {
            try {
                return await this.requestAgentShutdown(deadline);
            } catch (e) {
                if (mode === "agent" || !(e instanceof GracefulShutdownUnavailableError)) throw e;
                this.log(`${this.vmDescription}: ${e.message}; using the ACPI power button instead`);
            }
        }
        try {
            await this.call(["shutdown", "--mode", "acpi", "--domain", this.target.domain], deadline);
        } catch (e) {
            // The guest finished stopping between the state read and the request.
            if (!(e instanceof VirshError && notRunning.test(e.libvirtMessage))) throw e;
            return { method: "acpi", detail: "the domain stopped before the request reached it" };
        }
        return { method: "acpi", detail: "ACPI power button pressed" };
    }

    async powerOffHard(): Promise<void> {
        this.startWatching();
        await this.call(["destroy", "--domain", this.target.domain]);
    }

    async powerOn(): Promise<void> {
        this.startWatching();
        const current = await this.readState();
        if (current.detail?.startsWith("pmsuspended")) {
            await this.call(["dompmwakeup", "--domain", this.target.domain]);
        } else if (current.detail?.startsWith("crashed")) {
            await this.call(["destroy", "--domain", this.target.domain]);
            await this.call(["start", "--domain", this.target.domain]);
        } else if (current.state === "paused") {
            await this.call(["resume", "--domain", this.target.domain]);
        } else {
            await this.call(["start", "--domain", this.target.domain]);
        }
    }

    async waitForState(targets: readonly ObservedPowerState[], deadline: number): Promise<ObservedState> {
        this.startWatching();
        let mark = this.watcher.mark();
        const result = await pollUntil({
            clock: this.clock,
            deadline,
            intervalMs: this.pollIntervalMs,
            read: () => {
                mark = this.watcher.mark();
                // Bounded by the time left, not the per-call timeout: a hung link must not
                // carry the wait past its deadline.
                return this.readState(deadline);
            },
            done: (state) => targets.includes(state.state),
            // A read cut at the deadline ends the wait with the last state seen.
            transient: (e) => {
                if (e instanceof StateReadTimeout) this.log(`${this.vmDescription}: ${e.message}`);
                return e instanceof StateReadTimeout || isTransient(e);
            },
            // A lifecycle event ends the pause early; the poll is the safety net for a lost one.
            pause: (ms) => this.watcher.waitForEvent(mark, ms, this.clock),
        });
        return result.value;
    }

    async waitForGuestAgent(deadline: number): Promise<boolean> {
        // The agent connects on its own schedule and raises no lifecycle event: poll it.
        const result = await pollUntil({ clock: this.clock, deadline, intervalMs: 500, read: () => this.pingAgent(), done: (p) => p.ok });
        return result.reached;
    }

    async close(): Promise<void> {
        if (this.closed) return;
        this.closed = true;
        this.watcher.stop();
        for (const child of this.background) {
            if (child.exitCode === null && child.signalCode === null) killGroup(child, "SIGTERM");
        }
        this.background.clear();
        await this.sshShare?.close();
    }

    private startWatching(): void {
        if (this.useEvents && !this.closed) this.watcher.start();
    }

    private async pingAgent(): Promise<{ ok: boolean; detail: string }> {
        const seconds = Math.max(1, Math.ceil(this.agentPingTimeoutMs / 1000));
        try {
            await this.virsh.run(
                ["qemu-agent-command", "--domain", this.target.domain, "--timeout", String(seconds), "--cmd", '{"execute":"guest-ping"}'],
                // Never longer than one call may take: an agent job still queued in libvirt (an
                // interrupted run's agent shutdown) makes the ping wait, and a ping cut short
                // means "use ACPI", not a failed tools check.
                Math.min(this.agentPingTimeoutMs + 3000, this.target.commandTimeoutMs),
            );
            return { ok: true, detail: "answered guest-ping" };
        } catch (e) {
            const classified = classifyVirshError(e, this.target.uri, this.target.domain);
            if (classified instanceof VmNotFoundError || !(e instanceof VirshError)) throw classified;
            return { ok: false, detail: e.timedOut ? "guest-ping timed out" : e.libvirtMessage || "no answer" };
        }
    }

    /**
     * `virsh shutdown --mode agent` blocks inside libvirt until the guest reacts, up to 60 s.
     * It runs in the background: a quick failure (agent not connected) is reported, and a call
     * still running after a moment counts as delivered. The deadline is the caller's, not
     * libvirt's; close() ends the call if it is still waiting.
     */
    private requestAgentShutdown(deadline: number): Promise<GuestShutdownRequest> {
        const child = this.virsh.spawn(["shutdown", "--mode", "agent", "--domain", this.target.domain]);
        this.background.add(child);
        child.unref();
        let stderr = "";
        child.stderr?.setEncoding("utf8");
        child.stderr?.on("data", (chunk: string) => {
            if (stderr.length < 2000) stderr += chunk;
        });
        child.stdout?.resume();
        const settleMs = Math.max(0, Math.min(this.agentRequestSettleMs, deadline - this.clock.now()));
        return new Promise((resolve, reject) => {
            let settled = false;
            const abort = new AbortController();
            const finish = (action: () => void): void => {
                if (settled) return;
                settled = true;
                abort.abort();
                action();
            };
            child.on("error", (e) => finish(() => reject(e)));
            // "close", not "exit": libvirt's message must have been read in full.
            child.on("close", (code) => {
                this.background.delete(child);
                if (code === 0) return finish(() => resolve({ method: "agent", detail: "the guest agent accepted the shutdown" }));
                const message = cleanMessage(stderr);
                if (settled) {
                    if (!this.closed && !notRunning.test(message))
                        this.log(`${this.vmDescription}: agent shutdown ended: ${message || `exit ${code}`}`);
                    return;
                }
                if (notRunning.test(message)) {
                    return finish(() => resolve({ method: "agent", detail: "the domain stopped while the request was sent" }));
                }
                const error = new VirshError("shutdown", stderr, false, code);
                const classified = classifyVirshError(error, this.target.uri, this.target.domain);
                if (classified !== error) return finish(() => reject(classified));
                if (agentNotThere.test(message)) {
                    return finish(() =>
                        reject(new GracefulShutdownUnavailableError("toolsUnavailable", `QEMU guest agent shutdown failed: ${message}`)),
                    );
                }
                finish(() =>
                    reject(
                        new GracefulShutdownUnavailableError(
                            "gracefulRequestFailed",
                            `agent shutdown failed: ${message || `exit ${code}`}`,
                        ),
                    ),
                );
            });
            void this.clock
                .sleep(settleMs, abort.signal)
                .then(() =>
                    finish(() =>
                        resolve({ method: "agent", detail: "libvirt is waiting for the guest agent (continues in the background)" }),
                    ),
                );
        });
    }

    /**
     * One virsh call with its own timeout, capped by the time left before `deadline` when given
     * (never below `minCallMs`, so a call at the deadline can still answer).
     */
    private async call(args: readonly string[], deadline?: number): Promise<{ stdout: string }> {
        const timeout =
            deadline === undefined ? undefined : Math.max(minCallMs, Math.min(this.target.commandTimeoutMs, deadline - this.clock.now()));
        try {
            return await this.virsh.run(args, timeout);
        } catch (e) {
            const classified = classifyVirshError(e, this.target.uri, this.target.domain);
            if (deadline !== undefined && e instanceof VirshError && e.timedOut) {
                throw new StateReadTimeout(`${classified.message} (bounded by the time left, ${timeout} ms)`, { cause: e });
            }
            throw classified;
        }
    }
}

/**
 * A call cut at the caller's deadline: waits return the last state they saw instead. Transient:
 * a wait with no answer at all before its deadline (a frozen daemon) and a graceful request cut
 * at it are waited out or retried by the sequence, never a reason to give up or to force.
 */
class StateReadTimeout extends TransientError {
    constructor(message: string, options?: ErrorOptions) {
        super(message, options);
        this.name = "StateReadTimeout";
    }
}

/** The shortest timeout a call gets, even at its deadline. */
const minCallMs = 1000;

export const createDriver: DriverFactory<LibvirtTarget, LibvirtCredentials> = (target, _credentials, context) =>
    new LibvirtDriver(target, context);
