import { Driver, GuestShutdownRequest, GuestToolsStatus, ObservedState } from "../../power/driver";
import { AuthenticationError, CallTimeoutError, GracefulShutdownUnavailableError, VmNotFoundError } from "../../power/errors";
import { ObservedPowerState } from "../../power/states";
import { DriverContext, DriverFactory, SessionSupport } from "../platform";
import { PropertyValues, VimClient } from "./client";
import { VimFault, isFault } from "./faults";
import { PowerOffCause, PowerOffCauses } from "./powerOffCause";
import { VsphereSession } from "./session";
import { MoRef, SoapTransport } from "./soap";
import { VsphereCredentials, VsphereTarget, vsphereSpec } from "./spec";
import { awaitTask } from "./tasks";
import { PowerStateWaiter, observedFromPowerState, powerStatePath } from "./waiter";

/** Knobs for tests and the benchmark; users get the defaults. */
export interface VsphereTuning {
    /** `poll` forces the polling fallback (benchmark baseline). @default "events" */
    readonly waitMode?: "events" | "poll";
    /** @default 1000 */
    readonly pollIntervalMs?: number;
    /** How long PowerOffVM_Task / PowerOnVM_Task may run. @default 300000 */
    readonly taskTimeoutMs?: number;
    /** Sees the transport before the first call, e.g. to count calls of a failed login. */
    readonly onTransport?: (transport: SoapTransport) => void;
    /** One try of one SOAP call, start to end (TLS handshake included). @default 30000 */
    readonly requestTimeoutMs?: number;
    /**
     * Connecting, logging in and finding the VM, together, in wall-clock time.
     * @default the run's call bound (DriverContext.callTimeoutMs), else 20000
     */
    readonly openTimeoutMs?: number;
}

/** How often a request waits between attempts (tools starting, another task holding the VM). */
const retryIntervalMs = 500;
/** The longest wait between two tries of a request that keeps failing with a transient fault. */
const maxRetryIntervalMs = 5_000;
/**
 * ShutdownGuest faults that say "not now" rather than "never": another task holds the VM
 * (TaskInProgress, InvalidState), or hostd/vpxd had a passing failure (SystemError). They are
 * tried again until the deadline, never turned into a hard power-off before it.
 */
const transientShutdownFaults = ["TaskInProgress", "InvalidState", "SystemError"];
/** Connecting and logging in, when neither the run nor the tuning says otherwise. */
const defaultOpenTimeoutMs = 20_000;
/** How long the look-up of who powered the VM off may take; unanswered, the cause is unknown. */
const causeLookupTimeoutMs = 5_000;
const toolsStarting = "guestToolsExecutingScripts";
const guestPaths = ["guest.toolsRunningStatus", "guest.toolsStatus", "guest.guestState"];
/** A tools reading that came with the power state read this recently serves the tools check. */
const guestReadingFreshMs = 1000;
/** Connections of a fleet's shared session: its long poll plus the VMs' calls. */
const sharedSessionSockets = 16;

interface GuestReading {
    /** `guest.toolsRunningStatus`. */
    readonly running: string;
    readonly status?: string;
    /** `guest.guestState`: `running`, `shuttingDown`, `notRunning`, ... */
    readonly guestState?: string;
}

function describeGuest(guest: GuestReading): string {
    const status = guest.status && guest.running !== "guestToolsRunning" ? ` (${guest.status})` : "";
    const state = guest.guestState && guest.guestState !== "running" ? `, guestState ${guest.guestState}` : "";
    return `VMware Tools ${guest.running}${status}${state}`;
}

function guestReadingOf(values: PropertyValues): GuestReading {
    return {
        running: values.get("guest.toolsRunningStatus")?.text.trim() ?? "unknown",
        status: values.get("guest.toolsStatus")?.text.trim(),
        guestState: values.get("guest.guestState")?.text.trim(),
    };
}

/**
 * One vSphere VM over vim25 SOAP, on a VsphereSession: its own (a single VM, opened by
 * `openVsphereDriver` and logged out by `close()`) or a fleet's shared one (`close()` then only
 * takes this VM out of the shared watcher). Reads through the PropertyCollector, VMware Tools'
 * ShutdownGuest for the graceful request, power tasks for the rest.
 */
export class VsphereDriver implements Driver {
    readonly platform = "vsphere";
    /** This VM's calls; on a shared session they are counted apart from the session's own. */
    readonly client: VimClient;
    private readonly waiter: PowerStateWaiter;
    private readonly taskTimeoutMs: number;
    private readonly waitMode: VsphereTuning["waitMode"];
    private readonly ownCalls = new Map<string, number>();
    private closed = false;
    /** What checkGuestTools read, for the request that follows it. */
    private guestAtCheck: GuestReading | undefined;
    /** The tools reading of the last readState, and when it was made. */
    private guestAtRead: { readonly reading: GuestReading; readonly at: number } | undefined;
    private readonly causes: PowerOffCauses;
    /** When (wall clock) a shutdown request of ours reached the guest: a power-off since has a cause to find. */
    private askedGuestAt: number | undefined;
    /** We powered it off ourselves: no cause to look up. */
    private poweredOffByUs = false;
    /** The cause found for the current power-off, until the VM is seen on again. */
    private cause: Promise<PowerOffCause | undefined> | undefined;

    constructor(
        readonly session: VsphereSession,
        readonly vm: MoRef,
        readonly vmDescription: string,
        private readonly context: DriverContext,
        tuning: VsphereTuning = {},
        /** The session is this driver's alone: `close()` logs it out. */
        private readonly ownsSession = false,
    ) {
        this.client = session.countingClient(this.ownCalls);
        this.taskTimeoutMs = tuning.taskTimeoutMs ?? 300_000;
        this.waitMode = tuning.waitMode;
        this.waiter = new PowerStateWaiter(session.watcher, vm, {
            clock: context.clock,
            log: context.log,
            read: () => this.guard(() => this.read([powerStatePath])),
            mode: tuning.waitMode,
            pollIntervalMs: tuning.pollIntervalMs,
        });
        this.causes = new PowerOffCauses(this.client, context.log);
    }

    /**
     * SOAP calls made for this VM, by method: on its own session every call of that session
     * (login and logout included), on a shared one only the calls made for this VM.
     */
    get soapCalls(): ReadonlyMap<string, number> {
        return this.ownsSession ? this.session.transport.callCounts : this.ownCalls;
    }

    /** The power state, with the tools status and guest state of the same instant (one read). */
    async readState(): Promise<ObservedState> {
        const values = await this.guard(() => this.read([powerStatePath, ...guestPaths]));
        this.guestAtRead = { reading: guestReadingOf(values), at: this.context.clock.now() };
        return observedFromPowerState(values.get(powerStatePath)?.text);
    }

    async checkGuestTools(): Promise<GuestToolsStatus> {
        const read = this.guestAtRead;
        this.guestAtRead = undefined;
        const fresh = read && this.context.clock.now() - read.at <= guestReadingFreshMs;
        const tools = fresh ? read.reading : await this.readGuest();
        this.guestAtCheck = tools;
        const detail = describeGuest(tools);
        // Tools stop early in a guest's own shutdown: that guest is waited for, not forced.
        if (tools.guestState === "shuttingDown") return { available: true, detail: `${detail}; the guest is already shutting down` };
        // Tools still starting after a power-on: the request waits for them within the deadline.
        if (tools.running === toolsStarting) return { available: true, detail: `${detail}; waiting for VMware Tools to start` };
        return { available: tools.running === "guestToolsRunning", detail };
    }

    /**
     * ShutdownGuest, which returns as soon as VMware Tools took the request. Within `deadline`
     * it waits for tools that are still starting and retries the transient faults
     * (`TaskInProgress`, `InvalidState`) of a VM busy with another operation; without a deadline,
     * it tries once.
     */
    async requestGuestShutdown(deadline: number = this.context.clock.now()): Promise<GuestShutdownRequest> {
        const clock = this.context.clock;
        let guest = this.guestAtCheck;
        this.guestAtCheck = undefined;
        for (let attempt = 1; ; attempt++) {
            if (guest?.guestState === "shuttingDown") {
                this.askedGuestAt ??= Date.now();
                return {
                    method: "guest-initiated",
                    detail: "the guest was already shutting down (guest.guestState shuttingDown): waiting for it",
                };
            }
            try {
                await this.guard(() => this.client.shutdownGuest(this.vm));
                this.askedGuestAt ??= Date.now();
                return { method: "vmware-tools", detail: attempt > 1 ? `ShutdownGuest (attempt ${attempt})` : "ShutdownGuest" };
            } catch (e) {
                if (!(e instanceof VimFault)) throw e;
                const remaining = deadline - clock.now();
                if (e.faultType === "ToolsUnavailable") {
                    guest = await this.readGuest();
                    if (guest.guestState === "shuttingDown") continue;
                    if (guest.running === toolsStarting && remaining > 0) {
                        if (attempt === 1) this.context.log(`${this.vmDescription}: VMware Tools are starting; waiting for them`);
                        await clock.sleep(Math.min(retryIntervalMs, remaining));
                        continue;
                    }
                    throw new GracefulShutdownUnavailableError(
                        "toolsUnavailable",
                        `VMware Tools cannot take the request (${describeGuest(guest)}): ${e.message}`,
                    );
                }
                if (transientShutdownFaults.includes(e.faultType) && remaining > 0) {
                    // Another task holds the VM (a snapshot, a reconfigure), or the host had a
                    // passing failure: it ends on its own. Backing off, until the deadline.
                    this.context.log(`${this.vmDescription}: ShutdownGuest answered ${e.faultType}; retrying`);
                    const wait = Math.min(retryIntervalMs * 2 ** Math.min(attempt - 1, 4), maxRetryIntervalMs);
                    await clock.sleep(Math.min(wait, remaining));
                    guest = undefined;
                    continue;
                }
                if (e.faultType === "InvalidPowerState") {
                    const existing = e.fields.existingState;
                    // The guest got there by itself between the read and the request.
                    if (existing === "poweredOff") return { method: "vmware-tools", detail: "the VM was already powered off" };
                    if (existing === "suspended") throw new GracefulShutdownUnavailableError("guestFrozen", e.message);
                }
                const tries = attempt > 1 ? ` (after ${attempt} attempts until the deadline)` : "";
                throw new GracefulShutdownUnavailableError("gracefulRequestFailed", `${e.message}${tries}`);
            }
        }
    }

    /** A read batched with other VMs' same reads on a shared session; this VM's own call otherwise. */
    private read(paths: readonly string[]): Promise<PropertyValues> {
        return this.ownsSession ? this.client.retrieveProperties(this.vm, paths) : this.session.read(this.vm, paths);
    }

    /** Tools status and guest state in one read: either alone misreads a guest that is shutting down. */
    private async readGuest(): Promise<GuestReading> {
        return guestReadingOf(await this.guard(() => this.client.retrieveProperties(this.vm, guestPaths)));
    }

    async powerOffHard(): Promise<void> {
        const operation = `PowerOffVM_Task on ${this.vm.value}`;
        const triesBefore = this.triesOf(operation);
        const sentBefore = this.poweredOffByUs;
        this.poweredOffByUs = true;
        try {
            await this.runTask("PowerOffVM_Task", () => this.client.powerOffTask(this.vm));
        } catch (e) {
            // An earlier try of ours that got no answer (a stall, a reset after the server took
            // it) may be what powered it off: that is our hard power-off, not the guest's.
            const ours = sentBefore || this.triesOf(operation) - triesBefore > 1;
            if (ours && isFault(e, "InvalidPowerState") && e.fields.existingState === "poweredOff") {
                this.context.log(`${this.vmDescription}: already powered off by an earlier PowerOffVM_Task of ours that got no answer`);
                return;
            }
            // Otherwise an InvalidPowerState (the guest finished at the deadline) is thrown as
            // is: the sequence re-reads the state and counts it as a graceful success.
            throw e;
        }
    }

    /** Tries of one SOAP operation this transport sent (retries included). */
    private triesOf(operation: string): number {
        return this.client.transport.attempts.filter((a) => a.op === operation).length;
    }

    async powerOn(): Promise<void> {
        await this.runTask("PowerOnVM_Task", () => this.client.powerOnTask(this.vm));
    }

    /** Starts a task on the VM and waits for it to finish, within the task timeout. */
    private async runTask(task: string, start: () => Promise<MoRef>): Promise<void> {
        await this.guard(async () =>
            awaitTask(
                this.client,
                await start(),
                `${task} on ${this.vm.value}`,
                this.context.clock,
                this.taskTimeoutMs,
                this.waitMode === "poll" ? undefined : this.session.watcher,
            ),
        );
    }

    async waitForState(targets: readonly ObservedPowerState[], deadline: number): Promise<ObservedState> {
        const state = await this.guard(() => this.waiter.waitFor(targets, deadline));
        return this.withCause(state);
    }

    /**
     * A VM found off after our request reached its guest, and not by our hard power-off: who did
     * it, from vCenter's events. The report must not call a hard power-off by someone else
     * (another client, HA, an administrator) graceful.
     */
    private async withCause(state: ObservedState): Promise<ObservedState> {
        if (state.state !== "stopped") {
            if (state.state === "running") this.cause = undefined;
            return state;
        }
        if (this.askedGuestAt === undefined || this.poweredOffByUs) return state;
        this.cause ??= this.causes.latest(this.vm, this.askedGuestAt, causeLookupTimeoutMs);
        const cause = await this.cause;
        if (!cause) return state;
        // The guest's own shutdown keeps the plain detail; someone else's power-off says who.
        if (cause.by === "guest") return { ...state, stoppedBy: "guest" };
        return { ...state, stoppedBy: "external", detail: `${state.detail ?? "poweredOff"}: ${cause.detail}` };
    }

    /** Takes the VM out of the session's watcher; logs out only a session of its own. */
    async close(): Promise<void> {
        if (this.closed) return;
        this.closed = true;
        this.session.watcher.release(this.vm);
        if (this.ownsSession) await this.session.close();
    }

    private async guard<T>(action: () => Promise<T>): Promise<T> {
        try {
            return await action();
        } catch (e) {
            throw translateFault(e, this.vmDescription);
        }
    }
}

/** The faults the core acts on, as the core's errors; everything else unchanged. */
export function translateFault(error: unknown, vmDescription: string): unknown {
    if (isFault(error, "ManagedObjectNotFound"))
        return new VmNotFoundError(vmDescription, "vSphere no longer knows it (ManagedObjectNotFound)");
    if (isFault(error, "NotAuthenticated"))
        return new AuthenticationError(
            `the vSphere session for ${vmDescription} is not authenticated (NotAuthenticated): it expired or was closed`,
        );
    return error;
}

/** Connects, logs in (once: a refused password is never retried) and finds the VM. */
export async function openVsphereDriver(
    target: VsphereTarget,
    credentials: VsphereCredentials,
    context: DriverContext,
    tuning: VsphereTuning = {},
): Promise<VsphereDriver> {
    const host = new URL(target.url).host;
    // The sequence bounds every call it makes, but not this one: an endpoint that stopped
    // answering costs the open its bound, not a full timeout (and its retries) per call.
    const openTimeoutMs = tuning.openTimeoutMs ?? context.callTimeoutMs ?? defaultOpenTimeoutMs;
    let transport: SoapTransport | undefined;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
            transport?.destroy();
            reject(new CallTimeoutError(`vSphere login at ${host}`, openTimeoutMs));
        }, openTimeoutMs);
        timer.unref?.();
    });
    const opening = (async (): Promise<VsphereDriver> => {
        const session = await VsphereSession.open(target, credentials, context, {
            requestTimeoutMs: tuning.requestTimeoutMs,
            onTransport: (t) => {
                transport = t;
                tuning.onTransport?.(t);
            },
        });
        try {
            return await attachVsphereDriver(session, target, context, tuning, true);
        } catch (e) {
            await session.close().catch(() => undefined);
            throw e;
        }
    })();
    // Lost to the timer, the open still ends (its calls were aborted): nothing left hanging.
    opening.catch(() => undefined);
    try {
        return await Promise.race([opening, timedOut]);
    } finally {
        clearTimeout(timer);
    }
}

/** Finds the VM through `session` (a fleet's, or one of its own when `ownsSession`). */
export async function attachVsphereDriver(
    session: VsphereSession,
    target: VsphereTarget,
    context: DriverContext,
    tuning: VsphereTuning = {},
    ownsSession = false,
): Promise<VsphereDriver> {
    const description = vsphereSpec.describe(target);
    const vm = await session.locator.locate(target, description).catch((e: unknown) => {
        throw translateFault(e, description);
    });
    return new VsphereDriver(session, vm, `${description} (${vm.value})`, context, tuning, ownsSession);
}

/**
 * VMs of one endpoint, user and trust share one login in a fleet run. The key holds the
 * password only in memory (SessionPool digests it): another password is another session.
 */
export const sessions: SessionSupport<VsphereTarget, VsphereCredentials> = {
    key: (target, credentials) => JSON.stringify([target.url, target.username, credentials.password, target.caCert ?? "", target.insecure]),
    open: (target, credentials, context) => VsphereSession.open(target, credentials, context, { maxSockets: sharedSessionSockets }),
};

export const createDriver: DriverFactory<VsphereTarget, VsphereCredentials> = (target, credentials, context) =>
    context.session instanceof VsphereSession
        ? attachVsphereDriver(context.session, target, context)
        : openVsphereDriver(target, credentials, context);
