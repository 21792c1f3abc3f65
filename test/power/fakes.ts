import { Clock } from "../../src/power/clock";
import { Driver, GuestShutdownRequest, GuestToolsStatus, ObservedState } from "../../src/power/driver";
import { GracefulShutdownUnavailableError, TransientError, VmNotFoundError } from "../../src/power/errors";
import { ObservedPowerState } from "../../src/power/states";

/** A clock that only moves when someone waits on it: tests run in microseconds. */
export class FakeClock implements Clock {
    constructor(public time = 1_700_000_000_000) {}
    now(): number {
        return this.time;
    }
    async sleep(ms: number): Promise<void> {
        this.time += Math.max(0, ms);
    }
    advanceTo(time: number): void {
        this.time = Math.max(this.time, time);
    }
}

export interface FakeVmBehaviour {
    state: ObservedPowerState;
    /** How the guest answers a shutdown request. */
    guest: "graceful" | "hung";
    /** Time from the request until the guest is off. */
    shutdownDelayMs: number;
    /** Present: the driver checks tools first (vSphere-like). */
    toolsRunning?: boolean;
    /** The request itself fails (a SystemError fault). */
    requestFails?: boolean;
    /** The VM stops on its own at this clock time (it finished at the deadline). */
    offAt?: number;
    /** Every call takes this long. */
    callMs?: number;
    missing?: boolean;
    supportsDeallocate?: boolean;
    /** The first N graceful requests fail with a transient error (a reset socket, a 503). */
    transientRequestFailures?: number;
    /** Every call inside [from, to) fails transiently: the endpoint is restarting. */
    outage?: { readonly from: number; readonly to: number };
    /** Requests before this clock time are lost (ACPI press while the guest boots). */
    ignoreRequestsUntil?: number;
    /** Someone else powers the VM off hard at this clock time. */
    externalOffAt?: number;
    /** Someone else powers the VM on again at this clock time (after it went off). */
    powerOnAgainAt?: number;
    /** How long the tools check takes. */
    toolsCheckMs?: number;
}

/** An in-memory VM behind the Driver interface, driven by the fake clock. */
export class FakeDriver implements Driver {
    readonly platform = "fake";
    readonly vmDescription = "fake vm-1";
    readonly mutations: { op: string; at: number }[] = [];
    checkGuestTools?: () => Promise<GuestToolsStatus>;
    deallocate?: () => Promise<void>;
    private pendingOffAt: number | undefined;
    private stoppedBy: "guest" | "external" | undefined;
    requests = 0;

    constructor(
        private readonly clock: FakeClock,
        readonly vm: FakeVmBehaviour,
    ) {
        this.pendingOffAt = vm.offAt;
        if (vm.toolsRunning !== undefined) {
            this.checkGuestTools = async () => {
                await this.tick();
                await this.clock.sleep(vm.toolsCheckMs ?? 0);
                return { available: vm.toolsRunning === true, detail: vm.toolsRunning ? "guestToolsRunning" : "guestToolsNotRunning" };
            };
        }
        if (vm.supportsDeallocate) {
            this.deallocate = async () => {
                await this.tick();
                this.settle();
                if (this.vm.state !== "stopped") throw new Error(`cannot deallocate a ${this.vm.state} VM`);
                this.mutate("deallocate");
                this.vm.state = "deallocated";
            };
        }
    }

    async readState(): Promise<ObservedState> {
        await this.tick();
        this.settle();
        return this.observed();
    }

    async requestGuestShutdown(): Promise<GuestShutdownRequest> {
        await this.tick();
        this.settle();
        if (this.vm.toolsRunning === false) throw new GracefulShutdownUnavailableError("toolsUnavailable", "tools are not running");
        if (this.vm.requestFails) throw new Error("SystemError: shutdown refused");
        this.requests++;
        if (this.requests <= (this.vm.transientRequestFailures ?? 0)) {
            throw new TransientError(`ECONNRESET on request ${this.requests}`, { retryAfterMs: 500 });
        }
        if (this.vm.state !== "running") throw new Error(`InvalidPowerState: ${this.vm.state}`);
        this.mutate("requestGuestShutdown");
        if (this.vm.ignoreRequestsUntil !== undefined && this.clock.now() < this.vm.ignoreRequestsUntil) {
            return { method: "fake-acpi" };
        }
        if (this.vm.guest === "graceful") {
            const at = this.clock.now() + this.vm.shutdownDelayMs;
            this.pendingOffAt = Math.min(this.pendingOffAt ?? Infinity, at);
        }
        return { method: "fake-acpi" };
    }

    async powerOffHard(): Promise<void> {
        await this.tick();
        this.settle();
        if (this.vm.state === "stopped" || this.vm.state === "deallocated") throw new Error("InvalidPowerState: already off");
        this.mutate("powerOffHard");
        this.vm.state = "stopped";
        this.stoppedBy = "external";
        this.pendingOffAt = undefined;
    }

    async powerOn(): Promise<void> {
        await this.tick();
        this.settle();
        if (this.vm.state === "running") throw new Error("already running");
        this.mutate("powerOn");
        this.vm.state = "running";
    }

    async waitForState(targets: readonly ObservedPowerState[], deadline: number): Promise<ObservedState> {
        this.settle();
        const outage = this.vm.outage;
        if (outage && this.clock.now() < outage.from && outage.from < deadline && !targets.includes(this.vm.state)) {
            // The endpoint goes away in the middle of this wait.
            this.clock.advanceTo(outage.from);
            this.settle();
        }
        for (const at of [this.vm.externalOffAt, this.vm.powerOnAgainAt]) {
            if (at !== undefined && this.clock.now() < at && at <= deadline && !targets.includes(this.vm.state)) {
                this.clock.advanceTo(at);
                this.settle();
            }
        }
        if (
            !targets.includes(this.vm.state) &&
            this.pendingOffAt !== undefined &&
            targets.includes("stopped") &&
            this.pendingOffAt <= deadline
        ) {
            this.clock.advanceTo(this.pendingOffAt);
            this.settle();
        }
        if (!targets.includes(this.vm.state)) this.clock.advanceTo(deadline);
        this.settle();
        return this.observed();
    }

    private observed(): ObservedState {
        return {
            state: this.vm.state,
            detail: `fake:${this.vm.state}`,
            ...(this.vm.state === "stopped" && this.stoppedBy ? { stoppedBy: this.stoppedBy } : {}),
        };
    }

    async close(): Promise<void> {}

    private settle(): void {
        if (this.vm.missing) throw new VmNotFoundError(this.vmDescription);
        const now = this.clock.now();
        if (this.vm.outage && now >= this.vm.outage.from && now < this.vm.outage.to) {
            throw new TransientError("connect ECONNREFUSED 127.0.0.1:443");
        }
        if (this.vm.externalOffAt !== undefined && now >= this.vm.externalOffAt && this.vm.state === "running") {
            this.vm.externalOffAt = undefined;
            this.vm.state = "stopped";
            this.stoppedBy = "external";
            this.pendingOffAt = undefined;
        }
        if (this.pendingOffAt !== undefined && now >= this.pendingOffAt && this.vm.state === "running") {
            this.vm.state = "stopped";
            this.stoppedBy = "guest";
            this.pendingOffAt = undefined;
        }
        if (this.vm.powerOnAgainAt !== undefined && now >= this.vm.powerOnAgainAt && this.vm.state === "stopped") {
            this.vm.powerOnAgainAt = undefined;
            this.vm.state = "running";
            this.stoppedBy = undefined;
        }
    }

    private async tick(): Promise<void> {
        await this.clock.sleep(this.vm.callMs ?? 0);
    }

    private mutate(op: string): void {
        this.mutations.push({ op, at: this.clock.now() });
    }
}
