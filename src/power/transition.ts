import { Clock } from "./clock";
import { Driver, ObservedState } from "./driver";
import {
    AuthenticationError,
    CallTimeoutError,
    FallbackReason,
    GracefulShutdownUnavailableError,
    InterruptedError,
    PowerTransitionError,
    VmNotFoundError,
    isTransient,
} from "./errors";
import { Recorder } from "./recorder";
import { Phase, TransitionMethod, TransitionReport } from "./report";
import { DesiredPowerState, ObservedPowerState, isGuestFrozen, isOff, isSatisfied, isTransitional } from "./states";

/** What the caller wants from one run of the sequence. */
export interface TransitionRequest {
    readonly desired: DesiredPowerState;
    /** How long the guest gets to shut itself down before a hard power-off. */
    readonly gracefulTimeoutMs: number;
    /**
     * Power off hard when the graceful attempt fails or runs out of time. When false, the
     * transition fails instead and the VM is left running.
     * @default true
     */
    readonly force?: boolean;
    /** How `Deallocated` stops a running VM before deallocating it. @default "graceful" */
    readonly stopBeforeDeallocate?: "graceful" | "hard";
    /** After a power-on, wait for the guest agent to answer. @default false */
    readonly waitForGuestAgent?: boolean;
    /** How long a hard power-off, power-on, deallocation or agent wait may take to show. @default 120000 */
    readonly verifyTimeoutMs?: number;
    /**
     * The wall-clock bound of one driver call that has no deadline of its own (read, tools
     * check, hard power-off, power-on), TLS handshakes and all: a frozen endpoint costs at most
     * this much per call. Waits are bounded by their deadline plus a short grace instead.
     * @default 20000
     */
    readonly callTimeoutMs?: number;
    /**
     * While the guest shows no sign of shutting down (still `running`), the graceful request is
     * sent again this often: an ACPI press during boot is lost. 0 sends it once.
     * @default 15000
     */
    readonly gracefulRepeatMs?: number;
    /** Aborting ends the run at once with a PowerTransitionError carrying the report so far. */
    readonly signal?: AbortSignal;
    /** Live progress, e.g. for the CLI's status line. */
    readonly onProgress?: (progress: TransitionProgress) => void;
}

export interface TransitionProgress {
    readonly phase: Phase;
    readonly elapsedMs: number;
    /** Clock time when the current wait gives up, if the phase waits. */
    readonly deadline?: number;
}

const offStates: readonly ObservedPowerState[] = ["stopped", "deallocated"];
const defaultVerifyTimeoutMs = 120_000;
const defaultCallTimeoutMs = 20_000;
const defaultGracefulRepeatMs = 15_000;
/** How long past its deadline a wait may take to return its last poll. */
const maxWaitGraceMs = 5_000;
/** Backoff between retries of a transient failure when the platform named no Retry-After. */
const retryDelaysMs = [1_000, 2_000, 4_000];
/** A driver whose waitForState keeps returning early is broken; stop instead of spinning. */
const maxEarlyReturns = 1000;

interface Outcome {
    method: TransitionMethod;
    gracefulMethod?: string;
    guestTools?: string;
    fallbackReason?: FallbackReason;
    fallbackDetail?: string;
}

/**
 * Brings one VM to the desired power state: graceful first where asked, a hard power-off only
 * after the graceful deadline (or when graceful is impossible), and a verified end state.
 * Returns what happened; throws PowerTransitionError (with the report) when the VM could not
 * be brought there.
 */
export async function runTransition(driver: Driver, clock: Clock, request: TransitionRequest): Promise<TransitionReport> {
    return new Transition(driver, clock, request).run();
}

class Transition {
    private readonly recorder: Recorder;
    private readonly verifyTimeoutMs: number;
    private readonly callTimeoutMs: number;
    private from: ObservedPowerState = "unknown";
    private outcome: Outcome = { method: "none" };
    /** The latest state any call observed, for the report of an interrupted or failed run. */
    private last: ObservedState = { state: "unknown" };
    private gracefulAttempts = 0;
    /** A hard power-off call of ours was cut or lost its answer: it may have landed anyway. */
    private hardOffCut = false;

    constructor(
        private readonly driver: Driver,
        private readonly clock: Clock,
        private readonly request: TransitionRequest,
    ) {
        this.recorder = new Recorder(clock);
        this.verifyTimeoutMs = request.verifyTimeoutMs ?? defaultVerifyTimeoutMs;
        this.callTimeoutMs = request.callTimeoutMs ?? defaultCallTimeoutMs;
    }

    async run(): Promise<TransitionReport> {
        try {
            return await this.runSteps();
        } catch (e) {
            if (e instanceof PowerTransitionError) throw e;
            if (e instanceof InterruptedError) throw new PowerTransitionError(e.message, this.report(this.last), { cause: e });
            // The report (first error, calls so far) rides along with every failure.
            if (e instanceof CallTimeoutError) throw this.fail(e.message, this.last, e);
            throw e;
        }
    }

    private async runSteps(): Promise<TransitionReport> {
        // A reset or a restarting endpoint on the first read is tried again for a call's bound.
        let current = await this.phase("read", () =>
            this.retrying(
                "readState",
                () => this.driver.readState(),
                this.clock.now() + 2 * this.callTimeoutMs,
                () => this.callTimeoutMs,
                [500, 1_000],
            ),
        );
        this.from = current.state;
        if (current.state === "unknown") {
            throw this.fail(
                `cannot tell whether ${this.driver.vmDescription} is on or off (the platform reports "${current.detail ?? "unknown"}")`,
                current,
            );
        }
        if (current.state === "stopping" && this.request.desired === "OffGraceful") {
            // A shutdown already under way (an interrupted run's, or anyone's) gets the guest's
            // time like our own request would, then the usual fallback: never a wait that only fails.
            return this.report(await this.shutDownGracefully(current, true));
        }
        if (isTransitional(current.state) && !isSatisfied(this.request.desired, current.state)) {
            current = await this.settle();
        }
        if (isSatisfied(this.request.desired, current.state)) {
            return this.report(current);
        }
        switch (this.request.desired) {
            case "On":
                current = await this.powerOn();
                break;
            case "Off":
                current = await this.powerOffHard(undefined);
                break;
            case "OffGraceful":
                current = await this.shutDownGracefully(current);
                break;
            case "Deallocated":
                current = await this.deallocate(current);
                break;
        }
        return this.report(current);
    }

    /** Another operation is under way (starting, stopping): let it finish, then decide. */
    private async settle(): Promise<ObservedState> {
        const settled: ObservedPowerState[] = ["running", "stopped", "deallocated", "paused", "suspended"];
        const deadline = this.clock.now() + this.verifyTimeoutMs;
        const state = await this.phase("settle", () => this.waitFor(settled, deadline), deadline);
        if (isTransitional(state.state)) {
            throw this.fail(
                `${this.driver.vmDescription} stayed "${state.state}" for ${this.verifyTimeoutMs} ms; another operation seems stuck`,
                state,
            );
        }
        this.recorder.notes.push(`waited for a transition in progress to finish (${this.from} -> ${state.state})`);
        return state;
    }

    private async powerOn(): Promise<ObservedState> {
        this.outcome = { method: "powerOn" };
        const verifyDeadline = this.clock.now() + this.verifyTimeoutMs;
        await this.phase("powerOn", () =>
            this.retrying("powerOn", () => this.driver.powerOn(), verifyDeadline).catch((e) => this.unlessAlready(e, ["running"])),
        );
        const state = await this.verify(["running"], verifyDeadline);
        if (this.request.waitForGuestAgent && this.driver.waitForGuestAgent) {
            const deadline = this.clock.now() + this.verifyTimeoutMs;
            const waitForAgent = this.driver.waitForGuestAgent.bind(this.driver);
            const answered = await this.phase(
                "agentWait",
                () => this.call("waitForGuestAgent", () => waitForAgent(deadline), this.untilDeadline(deadline)),
                deadline,
            );
            if (!answered) {
                throw this.fail(
                    `${this.driver.vmDescription} is running but its guest agent did not answer within ${this.verifyTimeoutMs} ms`,
                    state,
                );
            }
        }
        return state;
    }

    private async shutDownGracefully(current: ObservedState, underWay = false): Promise<ObservedState> {
        const fallback = underWay ? await this.waitForShutdownUnderWay() : await this.tryGraceful(current);
        if (!fallback) return this.verify(offStates, this.clock.now() + this.verifyTimeoutMs, true);
        if (this.request.force === false) {
            throw this.fail(
                `graceful shutdown of ${this.driver.vmDescription} did not complete (${fallback.reason}${fallback.detail ? `: ${fallback.detail}` : ""}) and forcing is disabled`,
                await this.read().catch(() => this.last),
            );
        }
        return this.powerOffHard(fallback);
    }

    /** Returns why a fallback is needed, or undefined when the VM went off during the wait. */
    private async tryGraceful(current: ObservedState): Promise<{ reason: FallbackReason; detail?: string } | undefined> {
        if (isGuestFrozen(current.state)) {
            return this.fellBack("guestFrozen", `the VM is ${current.state}; its guest cannot run a shutdown`);
        }
        if (this.driver.checkGuestTools) {
            const check = this.driver.checkGuestTools.bind(this.driver);
            const tools = await this.phase("toolsCheck", () => this.call("checkGuestTools", check, this.callTimeoutMs));
            this.outcome = { ...this.outcome, guestTools: tools.detail };
            if (!tools.available) return this.fellBack("toolsUnavailable", tools.detail);
        }
        // The guest's time starts now: a slow tools check or agent ping does not eat into it.
        const deadline = this.clock.now() + this.request.gracefulTimeoutMs;
        try {
            const asked = await this.phase("gracefulRequest", () => this.requestShutdown(deadline, true));
            this.outcome = { ...this.outcome, method: "graceful", gracefulMethod: asked.method };
        } catch (e) {
            if (e instanceof AuthenticationError || e instanceof VmNotFoundError || e instanceof InterruptedError) throw e;
            // A refusal (no tools, a fault that will not change) falls back at once; transient
            // trouble was retried until the deadline and only then lands here.
            const reason: FallbackReason = e instanceof GracefulShutdownUnavailableError ? e.reason : "gracefulRequestFailed";
            return this.fellBack(reason, e instanceof Error ? e.message : String(e));
        }
        let reached: ObservedState;
        try {
            reached = await this.phase("gracefulWait", () => this.waitGracefully(deadline), deadline);
        } catch (e) {
            // The driver learnt during the wait that the request failed (an Azure powerOff that
            // ended Failed): nothing is shutting the guest down, so fall back now, with its words.
            if (!(e instanceof GracefulShutdownUnavailableError)) throw e;
            return this.fellBack(e.reason, e.message);
        }
        if (isOff(reached.state)) {
            this.noteExternalOff(reached);
            return undefined;
        }
        return this.fellBack("timeout", `still ${reached.state} after ${this.request.gracefulTimeoutMs} ms`);
    }

    private async waitForShutdownUnderWay(): Promise<{ reason: FallbackReason; detail?: string } | undefined> {
        this.recorder.notes.push("a shutdown was already under way; giving it the graceful timeout instead of asking again");
        this.outcome = { ...this.outcome, method: "graceful", gracefulMethod: "already under way" };
        const deadline = this.clock.now() + this.request.gracefulTimeoutMs;
        const reached = await this.phase("gracefulWait", () => this.waitFor(offStates, deadline), deadline);
        if (isOff(reached.state)) {
            this.noteExternalOff(reached);
            return undefined;
        }
        return this.fellBack("timeout", `still ${reached.state} after ${this.request.gracefulTimeoutMs} ms`);
    }

    /**
     * Waits for the guest until the deadline, asking again while it shows no sign of shutting
     * down (an ACPI press during boot, or before the OS listens, is lost).
     */
    private async waitGracefully(deadline: number): Promise<ObservedState> {
        const repeatMs = this.request.gracefulRepeatMs ?? defaultGracefulRepeatMs;
        for (;;) {
            const sliceEnd = repeatMs > 0 ? Math.min(deadline, this.clock.now() + repeatMs) : deadline;
            const state = await this.waitFor(offStates, sliceEnd);
            if (isOff(state.state) || this.clock.now() >= deadline) return state;
            if (state.state !== "running") continue;
            try {
                await this.requestShutdown(deadline, false);
                this.recorder.notes.push(`the guest showed no sign of shutting down; asked again at ${this.recorder.elapsed()} ms`);
            } catch (e) {
                if (e instanceof AuthenticationError || e instanceof VmNotFoundError || e instanceof InterruptedError) throw e;
                // Already recorded in calls; the first request was delivered, keep waiting.
            }
        }
    }

    /** One graceful request, retried on transient failures until the deadline. */
    private async requestShutdown(deadline: number, retry: boolean): Promise<{ method: string }> {
        const send = (): Promise<{ method: string }> => {
            this.gracefulAttempts++;
            return this.driver.requestGuestShutdown(deadline);
        };
        const bound = (): number => Math.max(this.callTimeoutMs, deadline - this.clock.now());
        return retry ? this.retrying("requestGuestShutdown", send, deadline, bound) : this.call("requestGuestShutdown", send, bound());
    }

    /** A VM that went off during our wait because someone powered it off hard is not "graceful". */
    private noteExternalOff(state: ObservedState): void {
        if (state.stoppedBy !== "external" || this.outcome.method !== "graceful") return;
        this.outcome = { ...this.outcome, method: "externalOff" };
        this.recorder.notes.push(
            `the VM was powered off hard by someone else during the graceful wait (${this.driver.platform}: ${state.detail ?? "external"})`,
        );
    }

    private fellBack(reason: FallbackReason, detail?: string): { reason: FallbackReason; detail?: string } {
        this.outcome = { ...this.outcome, fallbackReason: reason, fallbackDetail: detail };
        return { reason, detail };
    }

    private async powerOffHard(fallback: { reason: FallbackReason } | undefined): Promise<ObservedState> {
        this.outcome = { ...this.outcome, method: "forced" };
        // The hard power-off and its verification share one budget: a frozen endpoint costs
        // verifyTimeoutMs here, not a full timeout per call.
        const verifyDeadline = this.clock.now() + this.verifyTimeoutMs;
        try {
            await this.phase("hardPowerOff", () => this.retrying("powerOffHard", () => this.driver.powerOffHard(), verifyDeadline));
        } catch (e) {
            // The guest may have finished its own shutdown right at the deadline: that is success.
            await this.unlessAlready(e, offStates);
            if (this.hardOffCut && this.last.stoppedBy === "external") {
                // A call was cut (a stall, a lost answer) but the VM is off by a hard power-off, as
                // ours would leave it: ours landed, so the report says forced, not graceful.
                this.recorder.notes.push(
                    `the hard power-off call failed (${e instanceof Error ? e.message : String(e)}), but the VM is off by a hard power-off (${this.last.detail ?? "external"}): counted as ours`,
                );
            } else if (fallback?.reason === "timeout") {
                this.outcome = { ...this.outcome, method: "graceful", fallbackReason: undefined, fallbackDetail: undefined };
                this.recorder.notes.push("the guest finished shutting down at the deadline; no hard power-off was needed");
                const state = await this.verify(offStates, verifyDeadline, true);
                this.noteExternalOff(state);
                return state;
            } else if (fallback && this.gracefulAttempts > 0 && this.last.stoppedBy === "guest") {
                // Our request's call failed (a link cut while it was sent), yet the guest shut
                // itself down: it got the request. Graceful, with the failure in the calls.
                this.outcome = { ...this.outcome, method: "graceful", fallbackReason: undefined, fallbackDetail: undefined };
                this.recorder.notes.push(
                    `the graceful request's call failed (${fallback.reason}), but the guest shut itself down (${this.last.detail ?? "guest"}); nothing was forced`,
                );
            } else if (fallback) {
                // No request of ours was delivered and the hard power-off did nothing: the VM
                // stopped by itself or by someone else, so the report must not say "forced".
                this.outcome = { ...this.outcome, method: "none" };
                this.recorder.notes.push(
                    `the VM was already off when the hard power-off was tried (after ${fallback.reason}); nothing was forced`,
                );
            }
        }
        return this.verify(offStates, verifyDeadline);
    }

    private async deallocate(current: ObservedState): Promise<ObservedState> {
        const deallocate = this.driver.deallocate?.bind(this.driver);
        if (!deallocate) {
            throw this.fail(`${this.driver.platform} VMs cannot be deallocated; use "Off" or "OffGraceful"`, current);
        }
        if (!isOff(current.state)) {
            current =
                this.request.stopBeforeDeallocate === "hard" ? await this.powerOffHard(undefined) : await this.shutDownGracefully(current);
        }
        if (current.state === "deallocated") return current;
        if (this.outcome.method === "none") this.outcome = { method: "deallocate" };
        const verifyDeadline = this.clock.now() + this.verifyTimeoutMs;
        await this.phase("deallocate", () =>
            this.retrying("deallocate", deallocate, verifyDeadline).catch((e) => this.unlessAlready(e, ["deallocated"])),
        );
        return this.verify(["deallocated"], verifyDeadline);
    }

    /** A failed call is fine when the VM is already where the call would have put it. */
    private async unlessAlready(error: unknown, states: readonly ObservedPowerState[]): Promise<void> {
        if (error instanceof AuthenticationError || error instanceof VmNotFoundError || error instanceof InterruptedError) throw error;
        const now = await this.read().catch(() => undefined);
        if (!now || !states.includes(now.state)) throw error;
    }

    /**
     * Waits for a target until `deadline`. `reached`: the VM was already seen there, so a first
     * look that finds it settled elsewhere (someone powered it on again) fails at once instead
     * of waiting the full timeout for a change nobody will make.
     */
    private async verify(targets: readonly ObservedPowerState[], deadline: number, reached = false): Promise<ObservedState> {
        const state = await this.phase(
            "verify",
            async () => {
                if (reached) {
                    const first = await this.waitFor(targets, this.clock.now());
                    if (targets.includes(first.state)) return first;
                    // Settled elsewhere, or starting (someone powers it on): either way not
                    // coming back to a target by itself.
                    if (!isTransitional(first.state) || (first.state === "starting" && !targets.includes("running"))) {
                        throw this.fail(
                            `${this.driver.vmDescription} reached ${targets.join(" or ")} and then became ${first.state} again (someone else changed it); not waiting for it`,
                            first,
                        );
                    }
                }
                return this.waitFor(targets, deadline);
            },
            deadline,
        );
        if (!targets.includes(state.state)) {
            throw this.fail(
                `${this.driver.vmDescription} is ${state.state}, not ${targets.join(" or ")}, ${this.verifyTimeoutMs} ms after the request`,
                state,
            );
        }
        return state;
    }

    /**
     * Waits until a target state or the deadline, even if the driver returns early. A transient
     * failure (an endpoint restarting, a stalled call) is waited out until the deadline.
     */
    private async waitFor(targets: readonly ObservedPowerState[], deadline: number): Promise<ObservedState> {
        for (let attempt = 0; ; attempt++) {
            let state: ObservedState;
            try {
                state = await this.call("waitForState", () => this.driver.waitForState(targets, deadline), this.untilDeadline(deadline));
            } catch (e) {
                if (!isTransient(e)) throw e;
                const remaining = deadline - this.clock.now();
                if (remaining <= 0) return this.last;
                await this.pause(Math.min(e.retryAfterMs ?? retryDelaysMs[0], remaining));
                continue;
            }
            if (targets.includes(state.state) || this.clock.now() >= deadline) return state;
            if (attempt >= maxEarlyReturns) {
                throw this.fail(`the ${this.driver.platform} driver kept returning from waitForState before the deadline`, state);
            }
        }
    }

    private read(): Promise<ObservedState> {
        return this.call("readState", () => this.driver.readState(), this.callTimeoutMs);
    }

    /** A call retried on transient failures (Retry-After honoured) while `deadline` allows. */
    private async retrying<T>(
        op: string,
        action: () => Promise<T>,
        deadline: number,
        boundMs?: () => number,
        delaysMs: readonly number[] = retryDelaysMs,
    ): Promise<T> {
        for (let attempt = 0; ; attempt++) {
            try {
                return await this.call(op, action, boundMs?.() ?? Math.min(this.callTimeoutMs, Math.max(1, deadline - this.clock.now())));
            } catch (e) {
                if (!isTransient(e)) throw e;
                if (op === "powerOffHard") this.hardOffCut = true;
                const delay = e.retryAfterMs ?? delaysMs[Math.min(attempt, delaysMs.length - 1)];
                if (this.clock.now() + delay >= deadline) throw e;
                this.recorder.notes.push(`${op} failed (${e.message}); trying again in ${delay} ms`);
                await this.pause(delay);
            }
        }
    }

    /** How long a wait with this deadline may take in real time before it counts as stalled. */
    private untilDeadline(deadline: number): number {
        return Math.max(0, deadline - this.clock.now()) + Math.min(maxWaitGraceMs, this.callTimeoutMs);
    }

    private async pause(ms: number): Promise<void> {
        await this.clock.sleep(ms, this.request.signal);
        this.throwIfInterrupted();
    }

    private throwIfInterrupted(): void {
        if (this.request.signal?.aborted) throw new InterruptedError(abortReason(this.request.signal));
    }

    /**
     * One driver call, recorded, and bounded in wall-clock time: when `boundMs` passes (or the
     * run is interrupted) the call is abandoned, not awaited; the driver's close() ends it.
     */
    private call<T>(op: string, action: () => Promise<T>, boundMs: number): Promise<T> {
        this.throwIfInterrupted();
        return this.recorder.call(op, async () => {
            const result = await bounded(op, action, boundMs, this.request.signal);
            if (isObservedState(result)) this.last = result;
            return result;
        });
    }

    private phase<T>(phase: Phase, action: () => Promise<T>, deadline?: number): Promise<T> {
        this.request.onProgress?.({ phase, elapsedMs: this.recorder.elapsed(), deadline });
        return this.recorder.phase(phase, action);
    }

    private report(final: ObservedState): TransitionReport {
        const firstError = this.recorder.calls.find((c) => !c.ok)?.error;
        return {
            platform: this.driver.platform,
            vm: this.driver.vmDescription,
            desired: this.request.desired,
            from: this.from,
            to: final.state,
            method: this.outcome.method,
            ...(this.outcome.gracefulMethod !== undefined ? { gracefulMethod: this.outcome.gracefulMethod } : {}),
            ...(this.outcome.guestTools !== undefined ? { guestTools: this.outcome.guestTools } : {}),
            ...(this.outcome.fallbackReason !== undefined ? { fallbackReason: this.outcome.fallbackReason } : {}),
            ...(this.outcome.fallbackDetail !== undefined ? { fallbackDetail: this.outcome.fallbackDetail } : {}),
            ...(final.detail !== undefined ? { stateDetail: final.detail } : {}),
            gracefulTimeoutMs: this.request.gracefulTimeoutMs,
            startedAt: new Date(this.recorder.startedAt).toISOString(),
            durationMs: this.recorder.elapsed(),
            phases: [...this.recorder.phases],
            calls: [...this.recorder.calls],
            notes: [...this.recorder.notes],
            ...(firstError !== undefined ? { firstError } : {}),
            ...(this.gracefulAttempts > 0 ? { gracefulAttempts: this.gracefulAttempts } : {}),
        };
    }

    private fail(message: string, state: ObservedState, cause?: unknown): PowerTransitionError {
        return new PowerTransitionError(message, this.report(state), cause === undefined ? undefined : { cause });
    }
}

function isObservedState(value: unknown): value is ObservedState {
    return typeof value === "object" && value !== null && typeof (value as { state?: unknown }).state === "string";
}

function abortReason(signal: AbortSignal): string {
    const reason: unknown = signal.reason;
    return reason instanceof Error ? reason.message : typeof reason === "string" ? reason : "aborted";
}

/**
 * Races `action` against a real timer and the abort signal. Real time on purpose: the bound is
 * for endpoints that stop answering, whatever clock the sequence runs on.
 */
function bounded<T>(op: string, action: () => Promise<T>, boundMs: number, signal: AbortSignal | undefined): Promise<T> {
    return new Promise<T>((resolve, reject) => {
        let done = false;
        const finish = (settle: () => void): void => {
            if (done) return;
            done = true;
            clearTimeout(timer);
            signal?.removeEventListener("abort", onAbort);
            settle();
        };
        const onAbort = (): void => finish(() => reject(new InterruptedError(abortReason(signal as AbortSignal))));
        const timer = setTimeout(() => finish(() => reject(new CallTimeoutError(op, Math.round(boundMs)))), Math.max(0, boundMs));
        timer.unref?.();
        signal?.addEventListener("abort", onAbort, { once: true });
        action().then(
            (value) => finish(() => resolve(value)),
            (e: unknown) => finish(() => reject(e)),
        );
    });
}
