import { Clock } from "./clock";
import { Driver, ObservedState } from "./driver";
import { AuthenticationError, FallbackReason, GracefulShutdownUnavailableError, PowerTransitionError, VmNotFoundError } from "./errors";
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
    private from: ObservedPowerState = "unknown";
    private outcome: Outcome = { method: "none" };

    constructor(
        private readonly driver: Driver,
        private readonly clock: Clock,
        private readonly request: TransitionRequest,
    ) {
        this.recorder = new Recorder(clock);
        this.verifyTimeoutMs = request.verifyTimeoutMs ?? defaultVerifyTimeoutMs;
    }

    async run(): Promise<TransitionReport> {
        let current = await this.phase("read", () => this.call("readState", () => this.driver.readState()));
        this.from = current.state;
        if (current.state === "unknown") {
            throw this.fail(
                `cannot tell whether ${this.driver.vmDescription} is on or off (the platform reports "${current.detail ?? "unknown"}")`,
                current,
            );
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
        await this.phase("powerOn", () =>
            this.call("powerOn", () => this.driver.powerOn()).catch((e) => this.unlessAlready(e, ["running"])),
        );
        const state = await this.verify(["running"]);
        if (this.request.waitForGuestAgent && this.driver.waitForGuestAgent) {
            const deadline = this.clock.now() + this.verifyTimeoutMs;
            const waitForAgent = this.driver.waitForGuestAgent.bind(this.driver);
            const answered = await this.phase("agentWait", () => this.call("waitForGuestAgent", () => waitForAgent(deadline)), deadline);
            if (!answered) {
                throw this.fail(
                    `${this.driver.vmDescription} is running but its guest agent did not answer within ${this.verifyTimeoutMs} ms`,
                    state,
                );
            }
        }
        return state;
    }

    private async shutDownGracefully(current: ObservedState): Promise<ObservedState> {
        const deadline = this.clock.now() + this.request.gracefulTimeoutMs;
        const fallback = await this.tryGraceful(current, deadline);
        if (!fallback) return this.verify(offStates);
        if (this.request.force === false) {
            throw this.fail(
                `graceful shutdown of ${this.driver.vmDescription} did not complete (${fallback.reason}${fallback.detail ? `: ${fallback.detail}` : ""}) and forcing is disabled`,
                await this.driver.readState().catch(() => current),
            );
        }
        return this.powerOffHard(fallback);
    }

    /** Returns why a fallback is needed, or undefined when the guest shut itself down. */
    private async tryGraceful(current: ObservedState, deadline: number): Promise<{ reason: FallbackReason; detail?: string } | undefined> {
        if (isGuestFrozen(current.state)) {
            return this.fellBack("guestFrozen", `the VM is ${current.state}; its guest cannot run a shutdown`);
        }
        if (this.driver.checkGuestTools) {
            const check = this.driver.checkGuestTools.bind(this.driver);
            const tools = await this.phase("toolsCheck", () => this.call("checkGuestTools", check));
            this.outcome = { ...this.outcome, guestTools: tools.detail };
            if (!tools.available) return this.fellBack("toolsUnavailable", tools.detail);
        }
        try {
            const asked = await this.phase("gracefulRequest", () =>
                this.call("requestGuestShutdown", () => this.driver.requestGuestShutdown(deadline)),
            );
            this.outcome = { ...this.outcome, method: "graceful", gracefulMethod: asked.method };
        } catch (e) {
            if (e instanceof AuthenticationError || e instanceof VmNotFoundError) throw e;
            const reason: FallbackReason = e instanceof GracefulShutdownUnavailableError ? e.reason : "gracefulRequestFailed";
            return this.fellBack(reason, e instanceof Error ? e.message : String(e));
        }
        const reached = await this.phase("gracefulWait", () => this.waitFor(offStates, deadline), deadline);
        if (isOff(reached.state)) return undefined;
        return this.fellBack("timeout", `still ${reached.state} after ${this.request.gracefulTimeoutMs} ms`);
    }

    private fellBack(reason: FallbackReason, detail?: string): { reason: FallbackReason; detail?: string } {
        this.outcome = { ...this.outcome, fallbackReason: reason, fallbackDetail: detail };
        return { reason, detail };
    }

    private async powerOffHard(fallback: { reason: FallbackReason } | undefined): Promise<ObservedState> {
        this.outcome = { ...this.outcome, method: "forced" };
        try {
            await this.phase("hardPowerOff", () => this.call("powerOffHard", () => this.driver.powerOffHard()));
        } catch (e) {
            // The guest may have finished its own shutdown right at the deadline: that is success.
            await this.unlessAlready(e, offStates);
            if (fallback?.reason === "timeout") {
                this.outcome = { ...this.outcome, method: "graceful", fallbackReason: undefined, fallbackDetail: undefined };
                this.recorder.notes.push("the guest finished shutting down at the deadline; no hard power-off was needed");
            } else if (fallback) {
                // No request of ours was delivered and the hard power-off did nothing: the VM
                // stopped by itself or by someone else, so the report must not say "forced".
                this.outcome = { ...this.outcome, method: "none" };
                this.recorder.notes.push(
                    `the VM was already off when the hard power-off was tried (after ${fallback.reason}); nothing was forced`,
                );
            }
        }
        return this.verify(offStates);
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
        await this.phase("deallocate", () => this.call("deallocate", deallocate).catch((e) => this.unlessAlready(e, ["deallocated"])));
        return this.verify(["deallocated"]);
    }

    /** A failed call is fine when the VM is already where the call would have put it. */
    private async unlessAlready(error: unknown, states: readonly ObservedPowerState[]): Promise<void> {
        if (error instanceof AuthenticationError || error instanceof VmNotFoundError) throw error;
        const now = await this.call("readState", () => this.driver.readState());
        if (!states.includes(now.state)) throw error;
    }

    private async verify(targets: readonly ObservedPowerState[]): Promise<ObservedState> {
        const deadline = this.clock.now() + this.verifyTimeoutMs;
        const state = await this.phase("verify", () => this.waitFor(targets, deadline), deadline);
        if (!targets.includes(state.state)) {
            throw this.fail(
                `${this.driver.vmDescription} is ${state.state}, not ${targets.join(" or ")}, ${this.verifyTimeoutMs} ms after the request`,
                state,
            );
        }
        return state;
    }

    /** Waits until a target state or the deadline, even if the driver returns early. */
    private async waitFor(targets: readonly ObservedPowerState[], deadline: number): Promise<ObservedState> {
        for (let attempt = 0; ; attempt++) {
            const state = await this.call("waitForState", () => this.driver.waitForState(targets, deadline));
            if (targets.includes(state.state) || this.clock.now() >= deadline) return state;
            if (attempt >= maxEarlyReturns) {
                throw this.fail(`the ${this.driver.platform} driver kept returning from waitForState before the deadline`, state);
            }
        }
    }

    private call<T>(op: string, action: () => Promise<T>): Promise<T> {
        return this.recorder.call(op, action);
    }

    private phase<T>(phase: Phase, action: () => Promise<T>, deadline?: number): Promise<T> {
        this.request.onProgress?.({ phase, elapsedMs: this.recorder.elapsed(), deadline });
        return this.recorder.phase(phase, action);
    }

    private report(final: ObservedState): TransitionReport {
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
        };
    }

    private fail(message: string, state: ObservedState): PowerTransitionError {
        return new PowerTransitionError(message, this.report(state));
    }
}
