import { Clock } from "../../src/power/clock";
import { Driver, GuestShutdownRequest, ObservedState } from "../../src/power/driver";
import { ObservedPowerState } from "../../src/power/states";

interface Timer {
    readonly at: number;
    readonly seq: number;
    readonly resolve: () => void;
}

/**
 * A fake clock for concurrent code: every sleep registers a timer, and `run` wakes them in time
 * order only once all pending promise work has settled, so many VMs waiting at once see one
 * consistent timeline (FakeClock in fakes.ts moves per sleep and suits one VM only).
 */
export class SchedulerClock implements Clock {
    private timers: Timer[] = [];
    private seq = 0;
    constructor(public time = 1_700_000_000_000) {}

    now(): number {
        return this.time;
    }

    sleep(ms: number, signal?: AbortSignal): Promise<void> {
        if (signal?.aborted) return Promise.resolve();
        return new Promise<void>((resolve) => {
            const timer: Timer = { at: this.time + Math.max(0, ms), seq: this.seq++, resolve };
            this.timers.push(timer);
            signal?.addEventListener(
                "abort",
                () => {
                    this.timers = this.timers.filter((t) => t !== timer);
                    resolve();
                },
                { once: true },
            );
        });
    }

    /** Drives the timeline until `work` settles; returns its result. */
    async run<T>(work: Promise<T>): Promise<T> {
        let settled = false;
        const watched = work.finally(() => {
            settled = true;
        });
        for (;;) {
            await flush();
            if (settled) return watched;
            if (this.timers.length === 0) {
                throw new Error("deadlock: the work is pending and no timer is left to wake it");
            }
            this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
            const next = this.timers.shift() as Timer;
            this.time = Math.max(this.time, next.at);
            next.resolve();
        }
    }
}

/** Lets every queued microtask and promise chain run (no real I/O happens under this clock). */
function flush(): Promise<void> {
    return new Promise((resolve) => setImmediate(resolve));
}

export interface TimedVm {
    state: ObservedPowerState;
    /** Milliseconds from the shutdown request until the guest is off; undefined: it hangs. */
    shutdownMs?: number;
    /** Milliseconds each platform call takes. */
    callMs: number;
    /** Milliseconds a power-on takes to show. */
    bootMs: number;
}

/** A VM whose every wait is a sleep on the shared clock, so concurrent VMs interleave truly. */
export class TimedDriver implements Driver {
    readonly platform = "fake";
    readonly mutations: { op: string; at: number }[] = [];
    private offAt: number | undefined;
    private onAt: number | undefined;

    constructor(
        readonly vmDescription: string,
        private readonly clock: SchedulerClock,
        readonly vm: TimedVm,
    ) {}

    async readState(): Promise<ObservedState> {
        await this.tick();
        return { state: this.vm.state };
    }

    async requestGuestShutdown(): Promise<GuestShutdownRequest> {
        await this.tick();
        this.settle();
        if (this.vm.state !== "running") throw new Error(`InvalidPowerState: ${this.vm.state}`);
        this.mutations.push({ op: "requestGuestShutdown", at: this.clock.now() });
        // A second press (the sequence repeats its request) does not restart a shutdown under way.
        if (this.vm.shutdownMs !== undefined) this.offAt = Math.min(this.offAt ?? Infinity, this.clock.now() + this.vm.shutdownMs);
        return { method: "fake-acpi" };
    }

    async powerOffHard(): Promise<void> {
        await this.tick();
        this.settle();
        if (this.vm.state === "stopped") throw new Error("InvalidPowerState: already off");
        this.mutations.push({ op: "powerOffHard", at: this.clock.now() });
        this.vm.state = "stopped";
        this.offAt = undefined;
    }

    async powerOn(): Promise<void> {
        await this.tick();
        this.settle();
        if (this.vm.state === "running") throw new Error("already running");
        this.mutations.push({ op: "powerOn", at: this.clock.now() });
        this.onAt = this.clock.now() + this.vm.bootMs;
    }

    async waitForState(targets: readonly ObservedPowerState[], deadline: number): Promise<ObservedState> {
        this.settle();
        if (!targets.includes(this.vm.state)) {
            const change = targets.includes("running") ? this.onAt : targets.includes("stopped") ? this.offAt : undefined;
            const until = change !== undefined ? Math.min(change, deadline) : deadline;
            await this.clock.sleep(Math.max(0, until - this.clock.now()));
            this.settle();
        }
        return { state: this.vm.state };
    }

    async close(): Promise<void> {}

    private settle(): void {
        const now = this.clock.now();
        if (this.offAt !== undefined && now >= this.offAt && this.vm.state === "running") {
            this.vm.state = "stopped";
            this.offAt = undefined;
        }
        if (this.onAt !== undefined && now >= this.onAt && this.vm.state === "stopped") {
            this.vm.state = "running";
            this.onAt = undefined;
        }
    }

    private tick(): Promise<void> {
        return this.clock.sleep(this.vm.callMs);
    }
}
