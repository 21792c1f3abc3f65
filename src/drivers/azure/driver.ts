import { Driver, GuestShutdownRequest, ObservedState } from "../../power/driver";
import { GracefulShutdownUnavailableError, TransientError, VmNotFoundError } from "../../power/errors";
import { ObservedPowerState, isTransitional } from "../../power/states";
import { pollUntil } from "../common/pollUntil";
import { DriverContext, DriverFactory } from "../platform";
import { ArmClient, ArmError, PendingOperation } from "./arm";
import { TokenCredential } from "./credentials";
import { TransportError } from "./http";
import { guestAgentReady, powerStateFromInstanceView } from "./powerState";
import { AzureSession, azureSessions } from "./session";
import { AzureCredentials, AzureTarget, azureSpec } from "./spec";

export interface AzureDriverOptions {
    /**
     * Replaces the credential the target names (tests, or a caller holding an `@azure/identity`
     * credential). Not used when the run gives the driver a shared session.
     */
    readonly credential?: TokenCredential;
    /** Longest wait between two instance-view reads while waiting for a state. @default 5000 */
    readonly maxPollIntervalMs?: number;
    /** One HTTP request, start to end, TLS handshake included. @default 20000 */
    readonly requestTimeoutMs?: number;
    /** How long an awaited operation (hard power-off, start, deallocate) may run. @default 600000 */
    readonly operationTimeoutMs?: number;
}

type PowerAction = "powerOff" | "start" | "deallocate";

/** Where each action leaves the VM: a 409 is harmless when the VM is already there. */
const actionTargets: Record<PowerAction, readonly ObservedPowerState[]> = {
    powerOff: ["stopped", "deallocated"],
    start: ["running"],
    deallocate: ["deallocated"],
};

const vmGoneCodes = ["ResourceNotFound", "ResourceGroupNotFound", "NotFound"];
const settledStates: readonly ObservedPowerState[] = ["running", "stopped", "deallocated", "unknown"];
const firstPollIntervalMs = 1_000;
/** ARM statuses that say "try again" rather than "no". */
const transientStatuses = [408, 429, 500, 502, 503, 504];
/** An instance view without a PowerState entry is read again this many times before it counts. */
const powerStateRereads = 3;
/** How long a read that finds the VM off waits for the followed graceful powerOff to report its end. */
const followSettleMs = 3_000;
/** Longest the re-reads of an instance view without a PowerState may take together. */
const powerStateRereadWindowMs = 10_000;

export const createDriver: DriverFactory<AzureTarget, AzureCredentials> = (target, credentials, context) =>
    new AzureDriver(target, credentials, context);

/** A fleet run shares one session (agent, token) per subscription, endpoint and identity. */
export const sessions = azureSessions;

/**
 * Power operations on one `Microsoft.Compute/virtualMachines` resource over ARM.
 *
 * Graceful shutdown is Azure's own: `powerOff` without `skipShutdown` makes the hypervisor
 * signal the guest (the platform forces the VM off after about 5 minutes). The request
 * returns once ARM accepted it; the operation is then followed in the background and its end
 * wakes `waitForState` at once, so the core's deadline, not Azure's, decides the fallback.
 */
export class AzureDriver implements Driver {
    readonly platform = "azure";
    readonly vmDescription: string;
    private readonly session: AzureSession;
    /** Whether this driver opened its session (a single-VM run) and so closes it. */
    private readonly ownsSession: boolean;
    private readonly arm: ArmClient;
    private readonly vmPath: string;
    private readonly closing = new AbortController();
    private readonly wakers = new Set<() => void>();
    private background?: Promise<void>;
    /** Who ended our graceful powerOff: the guest (Succeeded) or someone's hard powerOff that preempted it. */
    private gracefulEnd?: "guest" | "external";
    private hardOffStarted = false;
    private following = false;
    /** How the followed graceful powerOff failed, until a wait reports it. */
    private gracefulFailure?: GracefulShutdownUnavailableError;

    constructor(
        target: AzureTarget,
        credentials: AzureCredentials,
        private readonly context: DriverContext,
        private readonly options: AzureDriverOptions = {},
    ) {
        this.vmDescription = azureSpec.describe(target);
        const shared = context.session instanceof AzureSession ? context.session : undefined;
        this.ownsSession = shared === undefined;
        this.session =
            shared ??
            new AzureSession(target, credentials, context, { credential: options.credential, requestTimeoutMs: options.requestTimeoutMs });
        this.arm = new ArmClient({
            http: this.session.http,
            endpoint: target.resourceManagerEndpoint,
            token: this.session.token,
            clock: context.clock,
            log: context.log,
            requestTimeoutMs: options.requestTimeoutMs,
        });
        this.vmPath =
            `/subscriptions/${encodeURIComponent(target.subscriptionId)}` +
            `/resourceGroups/${encodeURIComponent(target.resourceGroupName)}` +
            `/providers/Microsoft.Compute/virtualMachines/${encodeURIComponent(target.vmName)}`;
    }

    /**
     * The instance view can come without any `PowerState/*` entry (the Azure REST spec's own
     * examples have one): that is "not said", not "unknown", so it is read again a few times.
     */
    async readState(): Promise<ObservedState> {
        const state = await this.readPowerState();
        if (state.state !== "stopped" && state.state !== "deallocated") return state;
        // Off while our graceful powerOff is still followed: its end (Succeeded, or preempted by
        // someone's hard powerOff) says who stopped the VM; wait a moment for it.
        if (this.gracefulEnd === undefined && this.following) {
            await Promise.race([this.background, this.context.clock.sleep(followSettleMs, this.closing.signal)]);
        }
        return this.gracefulEnd ? { ...state, stoppedBy: this.gracefulEnd } : state;
    }

    private async readPowerState(): Promise<ObservedState> {
        const { clock } = this.context;
        let reads = 0;
        let latest: ObservedState | undefined;
        const said = (state: ObservedState): boolean => state.state !== "unknown" || state.detail?.startsWith("PowerState/") === true;
        const result = await pollUntil({
            clock,
            deadline: clock.now() + powerStateRereadWindowMs,
            intervalMs: firstPollIntervalMs * powerStateRereads,
            read: async () => {
                reads++;
                latest = powerStateFromInstanceView(await this.instanceView());
                return latest;
            },
            done: (state) => said(state) || reads > powerStateRereads || this.closing.signal.aborted,
            pause: (ms) => {
                this.context.log(`${this.vmDescription}: the instance view has no PowerState (${latest?.detail}); reading it again`);
                return this.nap(Math.min(ms, firstPollIntervalMs * reads));
            },
            // A failed read is the caller's to retry (the sequence bounds each call).
            transient: () => false,
        });
        return result.value;
    }

    async requestGuestShutdown(deadline: number): Promise<GuestShutdownRequest> {
        let pending: PendingOperation;
        try {
            pending = await this.begin("powerOff", { skipShutdown: "false" });
        } catch (e) {
            if (!(e instanceof ArmError) || e.status !== 409) throw e;
            const now = await this.readState();
            if (actionTargets.powerOff.includes(now.state))
                return { method: "azure-integrated", detail: `already ${now.detail ?? now.state}` };
            throw new GracefulShutdownUnavailableError(
                "gracefulRequestFailed",
                `Azure refused the graceful powerOff of ${this.vmDescription} (409 ${e.code}: ${e.armMessage}); the VM is ${now.detail ?? now.state}`,
            );
        }
        this.gracefulFailure = undefined;
        this.gracefulEnd = undefined;
        if (!pending.done) this.follow(pending, deadline);
        return {
            method: "azure-integrated",
            detail: pending.done ? "powerOff completed at once" : `powerOff accepted; following ${pending.style}`,
        };
    }

    powerOffHard(): Promise<void> {
        this.hardOffStarted = true;
        return this.run("powerOff", { skipShutdown: "true" });
    }

    powerOn(): Promise<void> {
        return this.run("start");
    }

    deallocate(): Promise<void> {
        return this.run("deallocate");
    }

    /** Reads until a target state or the deadline; transient read failures are waited out (pollUntil). */
    async waitForState(targets: readonly ObservedPowerState[], deadline: number): Promise<ObservedState> {
        const { clock } = this.context;
        let round = 0;
        const result = await pollUntil({
            clock,
            deadline,
            intervalMs: this.options.maxPollIntervalMs ?? 5_000,
            pause: (ms) => this.nap(Math.min(ms, this.pollInterval(round++))),
            read: async () => {
                const state = await this.readState();
                const failure = this.gracefulFailure;
                // Our graceful powerOff ended Failed: nothing shuts the guest down now; say so at once.
                if (failure && targets.includes("stopped") && !targets.includes(state.state) && clock.now() < deadline) {
                    this.gracefulFailure = undefined;
                    throw failure;
                }
                return state;
            },
            done: (state) => targets.includes(state.state) || this.closing.signal.aborted,
        });
        return result.value;
    }

    async waitForGuestAgent(deadline: number): Promise<boolean> {
        const { clock } = this.context;
        let round = 0;
        const result = await pollUntil({
            clock,
            deadline,
            intervalMs: this.options.maxPollIntervalMs ?? 5_000,
            pause: (ms) => this.nap(Math.min(ms, this.pollInterval(round++))),
            read: async () => guestAgentReady(await this.instanceView()),
            done: (ready) => ready || this.closing.signal.aborted,
        });
        return result.value;
    }

    /** Ends this VM's waits and its operation follower; a shared session stays open for the other VMs. */
    async close(): Promise<void> {
        this.closing.abort();
        this.wake();
        await this.background;
        if (this.ownsSession) await this.session.close();
    }

    private async instanceView(): Promise<unknown> {
        try {
            return await this.arm.getJson("instanceView", `${this.vmPath}/instanceView`, {}, this.closing.signal);
        } catch (e) {
            throw this.classify(e);
        }
    }

    private async begin(action: PowerAction, query: Record<string, string> = {}): Promise<PendingOperation> {
        try {
            return await this.arm.begin(action, `${this.vmPath}/${action}`, query, this.closing.signal);
        } catch (e) {
            throw this.classify(e);
        }
    }

    /**
     * Starts an action and waits for ARM to finish it. A 409 (another operation under way, or
     * the VM deallocated) is settled here: fine if the VM is already where the action would
     * put it, retried once after a transition in progress ends, reported with ARM's code otherwise.
     */
    private async run(action: PowerAction, query: Record<string, string> = {}): Promise<void> {
        const deadline = this.context.clock.now() + (this.options.operationTimeoutMs ?? 600_000);
        for (let attempt = 0; ; attempt++) {
            try {
                const pending = await this.begin(action, query);
                await this.arm.wait(pending, deadline, this.closing.signal);
                return;
            } catch (e) {
                if (!(e instanceof ArmError) || e.status !== 409) throw e;
                let now = await this.readState();
                if (actionTargets[action].includes(now.state)) return;
                if (attempt === 0 && isTransitional(now.state)) {
                    this.context.log(
                        `Azure refused ${action} while the VM is ${now.detail ?? now.state} (409 ${e.code}); waiting for that to finish, then retrying`,
                    );
                    now = await this.waitForState(settledStates, deadline);
                    if (actionTargets[action].includes(now.state)) return;
                    continue;
                }
                throw new ArmError(action, 409, e.code, `${e.armMessage} (the VM is ${now.detail ?? now.state})`);
            }
        }
    }

    /** Follows the graceful powerOff without blocking the sequence; its end wakes the waiters. */
    private follow(pending: PendingOperation, deadline: number): void {
        const previous = this.background ?? Promise.resolve();
        this.following = true;
        this.background = previous
            .then(() => this.arm.wait(pending, deadline, this.closing.signal))
            .then(() => {
                if (!this.closing.signal.aborted) this.gracefulEnd = "guest";
            })
            .catch((e: unknown) => {
                // Preempted by a hard powerOff that was not ours: someone else forced the VM off.
                if (e instanceof ArmError && e.code === "OperationPreempted" && !this.hardOffStarted) {
                    this.gracefulEnd = "external";
                    return;
                }
                // Overtaken by our own hard power-off at the deadline (OperationPreempted), or
                // still running at the deadline: the core already acts on the VM's state.
                if (e instanceof ArmError && (e.code === "OperationPreempted" || e.code === "OperationTimedOut")) return;
                if (this.closing.signal.aborted) return;
                const message = e instanceof Error ? e.message : String(e);
                this.context.log(`the graceful powerOff of ${this.vmDescription} did not complete: ${message}`);
                // Ended Failed (with ARM's code): nothing shuts the guest down now, so the wait
                // reports it and the sequence falls back at once instead of at the deadline.
                if (e instanceof ArmError && e.operationStatus) {
                    this.gracefulFailure = new GracefulShutdownUnavailableError(
                        "gracefulRequestFailed",
                        `Azure's graceful powerOff of ${this.vmDescription} ended ${e.operationStatus}: ${e.code}${e.armMessage ? `: ${e.armMessage}` : ""}`,
                    );
                }
            })
            .finally(() => {
                this.following = false;
                this.wake();
            });
    }

    private pollInterval(round: number): number {
        return Math.min(firstPollIntervalMs * 2 ** round, this.options.maxPollIntervalMs ?? 5_000);
    }

    /** Sleeps until `ms` pass, a followed operation ends, or the driver closes. */
    private async nap(ms: number): Promise<void> {
        const woken = new AbortController();
        const waker = (): void => woken.abort();
        this.wakers.add(waker);
        try {
            await this.context.clock.sleep(Math.max(0, ms), woken.signal);
        } finally {
            this.wakers.delete(waker);
        }
    }

    private wake(): void {
        for (const waker of [...this.wakers]) waker();
    }

    /** Gone VMs become VmNotFoundError; resets, 5xx and 429 left after ARM's own retries become transient. */
    private classify(error: unknown): unknown {
        if (error instanceof TransportError) return new TransientError(error.message, { cause: error, retryAfterMs: error.retryAfterMs });
        if (error instanceof ArmError && !error.operationStatus && transientStatuses.includes(error.status)) {
            return new TransientError(error.message, { cause: error, retryAfterMs: error.retryAfterMs });
        }
        return this.notFound(error);
    }

    private notFound(error: unknown): unknown {
        // SubscriptionNotFound usually means a token from the wrong tenant, not a deleted VM:
        // treating it as "gone" would make a refresh drop the resource.
        if (error instanceof ArmError && error.status === 404 && vmGoneCodes.includes(error.code)) {
            return new VmNotFoundError(this.vmDescription, `${error.code}${error.armMessage ? `: ${error.armMessage}` : ""}`);
        }
        return error;
    }
}
