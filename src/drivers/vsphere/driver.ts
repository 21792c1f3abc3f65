import { Driver, GuestShutdownRequest, GuestToolsStatus, ObservedState } from "../../power/driver";
import { AuthenticationError, CallTimeoutError, GracefulShutdownUnavailableError, VmNotFoundError } from "../../power/errors";
import { ObservedPowerState } from "../../power/states";
import { DriverContext, DriverFactory } from "../platform";
import { VimClient } from "./client";
import { VimFault, isFault } from "./faults";
import { locateVm } from "./locate";
import { PowerOffCause, PowerOffCauses } from "./powerOffCause";
import { MoRef, SoapTransport } from "./soap";
import { VsphereCredentials, VsphereTarget, vsphereSpec } from "./spec";
import { awaitTask } from "./tasks";
import { PowerStateWaiter, observedFromPowerState } from "./waiter";

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
/** Logout and dropping the collector together, on an endpoint that may have stopped answering. */
const closeBudgetMs = 3_000;
/** How long the look-up of who powered the VM off may take; unanswered, the cause is unknown. */
const causeLookupTimeoutMs = 5_000;
const toolsStarting = "guestToolsExecutingScripts";

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

/**
 * One vSphere VM over vim25 SOAP: a session opened by `openVsphereDriver`, reads through the
 * PropertyCollector, VMware Tools' ShutdownGuest for the graceful request, and power tasks for
 * the rest. `close()` logs the session out.
 */
export class VsphereDriver implements Driver {
    readonly platform = "vsphere";
    private readonly waiter: PowerStateWaiter;
    private readonly taskTimeoutMs: number;
    private closed = false;
    /** What checkGuestTools read, for the request that follows it. */
    private guestAtCheck: GuestReading | undefined;
    private readonly causes: PowerOffCauses;
    /** When (wall clock) a shutdown request of ours reached the guest: a power-off since has a cause to find. */
    private askedGuestAt: number | undefined;
    /** We powered it off ourselves: no cause to look up. */
    private poweredOffByUs = false;
    /** The cause found for the current power-off, until the VM is seen on again. */
    private cause: Promise<PowerOffCause | undefined> | undefined;

    constructor(
        readonly client: VimClient,
        readonly vm: MoRef,
        readonly vmDescription: string,
        private readonly context: DriverContext,
        tuning: VsphereTuning = {},
    ) {
        this.taskTimeoutMs = tuning.taskTimeoutMs ?? 300_000;
        this.waiter = new PowerStateWaiter(client, vm, {
            clock: context.clock,
            log: context.log,
            read: () => this.readState(),
            mode: tuning.waitMode,
            pollIntervalMs: tuning.pollIntervalMs,
        });
        this.causes = new PowerOffCauses(client, context.log);
    }

    /** SOAP calls made through this driver's session, by method. */
    get soapCalls(): ReadonlyMap<string, number> {
        return this.client.transport.callCounts;
    }

    async readState(): Promise<ObservedState> {
        const values = await this.guard(() => this.client.retrieveProperties(this.vm, ["runtime.powerState"]));
        return observedFromPowerState(values.get("runtime.powerState")?.text);
    }

    async checkGuestTools(): Promise<GuestToolsStatus> {
        const tools = await this.readGuest();
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

    /** Tools status and guest state in one read: either alone misreads a guest that is shutting down. */
    private async readGuest(): Promise<GuestReading> {
        const values = await this.guard(() =>
            this.client.retrieveProperties(this.vm, ["guest.toolsRunningStatus", "guest.toolsStatus", "guest.guestState"]),
        );
        return {
            running: values.get("guest.toolsRunningStatus")?.text.trim() ?? "unknown",
            status: values.get("guest.toolsStatus")?.text.trim(),
            guestState: values.get("guest.guestState")?.text.trim(),
        };
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
            awaitTask(this.client, await start(), `${task} on ${this.vm.value}`, this.context.clock, this.taskTimeoutMs),
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

    async close(): Promise<void> {
        if (this.closed) return;
        this.closed = true;
        // A frozen endpoint costs the clean-up this much, not a full timeout per call.
        this.client.transport.windDown(closeBudgetMs);
        try {
            await this.waiter
                .close()
                .catch((e: unknown) => this.context.log(`DestroyPropertyCollector failed: ${e instanceof Error ? e.message : String(e)}`));
            if (this.client.transport.hasSession) await this.client.logout();
        } finally {
            this.client.transport.destroy();
        }
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
    const url = new URL(target.url);
    if (target.insecure) context.log(`TLS verification is off for ${url.host} (target.vsphere.insecure)`);
    const transport = new SoapTransport({
        url,
        caCert: target.caCert,
        insecure: target.insecure,
        onSecret: context.registerSecret,
        clock: context.clock,
        requestTimeoutMs: tuning.requestTimeoutMs,
    });
    tuning.onTransport?.(transport);
    const client = new VimClient(transport);
    // The sequence bounds every call it makes, but not this one: an endpoint that stopped
    // answering costs the open its bound, not a full timeout (and its retries) per call.
    const openTimeoutMs = tuning.openTimeoutMs ?? context.callTimeoutMs ?? defaultOpenTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
            transport.destroy();
            reject(new CallTimeoutError(`vSphere login at ${url.host}`, openTimeoutMs));
        }, openTimeoutMs);
        timer.unref?.();
    });
    const opening = open(client, transport, target, credentials, context, tuning);
    // Lost to the timer, the open still ends (its calls were aborted): nothing left hanging.
    opening.catch(() => undefined);
    try {
        return await Promise.race([opening, timedOut]);
    } finally {
        clearTimeout(timer);
    }
}

async function open(
    client: VimClient,
    transport: SoapTransport,
    target: VsphereTarget,
    credentials: VsphereCredentials,
    context: DriverContext,
    tuning: VsphereTuning,
): Promise<VsphereDriver> {
    const url = new URL(target.url);
    const description = vsphereSpec.describe(target);
    try {
        await client.retrieveServiceContent();
        try {
            await client.login(target.username, credentials.password);
        } catch (e) {
            if (isFault(e, "InvalidLogin", "NoPermission")) {
                throw new AuthenticationError(
                    `vSphere at ${url.host} refused the login of "${target.username}" (${e.faultType}); check target.vsphere.username and password`,
                );
            }
            throw e;
        }
        const vm = await locateVm(client, target, description).catch((e: unknown) => {
            throw translateFault(e, description);
        });
        return new VsphereDriver(client, vm, `${description} (${vm.value})`, context, tuning);
    } catch (e) {
        if (transport.hasSession) await client.logout().catch(() => undefined);
        transport.destroy();
        throw e;
    }
}

export const createDriver: DriverFactory<VsphereTarget, VsphereCredentials> = (target, credentials, context) =>
    openVsphereDriver(target, credentials, context);
