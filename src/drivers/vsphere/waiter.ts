import { Clock } from "../../power/clock";
import { ObservedState } from "../../power/driver";
import { VmNotFoundError } from "../../power/errors";
import { ObservedPowerState } from "../../power/states";
import { PropertyUpdate, VimClient } from "./client";
import { isMethodMissing } from "./faults";
import { MoRef } from "./soap";

/** `runtime.powerState` as the core sees it; the vSphere word stays in `detail`. */
export function observedFromPowerState(powerState: string | undefined): ObservedState {
    const value = powerState?.trim() ?? "";
    const state: ObservedPowerState =
        value === "poweredOn" ? "running" : value === "poweredOff" ? "stopped" : value === "suspended" ? "suspended" : "unknown";
    return { state, detail: value || "no runtime.powerState" };
}

export interface PowerStateWaiterOptions {
    readonly clock: Clock;
    readonly log: (message: string) => void;
    /** Reads the current state (RetrievePropertiesEx), with the driver's error mapping. */
    readonly read: () => Promise<ObservedState>;
    /** `events` (WaitForUpdatesEx) unless the server lacks it; `poll` forces polling. @default "events" */
    readonly mode?: "events" | "poll";
    /** Polling interval when polling. @default 1000 */
    readonly pollIntervalMs?: number;
}

/** A long poll longer than this risks idle timeouts in proxies between us and vCenter. */
const maxWaitSecondsCap = 60;
const powerStatePath = "runtime.powerState";

/**
 * Waits for `runtime.powerState` to reach a target: a PropertyCollector of the driver's own
 * (created at the first wait, destroyed at close), one PropertyFilter per wait and a
 * WaitForUpdatesEx long poll, so a change arrives as soon as the server sees it. The long poll
 * is cut at the deadline (aborted, then CancelWaitForUpdates so the abandoned call cannot
 * swallow a later change; that clean-up runs in the background and is awaited before the next
 * wait and at close). Servers without the PropertyCollector methods get polling.
 */
export class PowerStateWaiter {
    private eventsUnsupported = false;
    private cleanup: Promise<void> = Promise.resolve();
    private collector: MoRef | undefined;

    constructor(
        private readonly client: VimClient,
        private readonly vm: MoRef,
        private readonly options: PowerStateWaiterOptions,
    ) {}

    async waitFor(targets: readonly ObservedPowerState[], deadline: number): Promise<ObservedState> {
        // One cheap read first: the verify after a finished shutdown needs no filter at all.
        const current = await this.options.read();
        if (targets.includes(current.state) || this.options.clock.now() >= deadline) return current;
        if (this.options.mode === "poll" || this.eventsUnsupported) return this.poll(targets, deadline, current);
        try {
            return await this.watch(targets, deadline, current);
        } catch (e) {
            if (!isMethodMissing(e)) throw e;
            this.eventsUnsupported = true;
            this.options.log(`this vSphere endpoint does not support WaitForUpdatesEx (${e.faultType}); polling the power state instead`);
            return this.poll(targets, deadline, await this.options.read());
        }
    }

    /** Waits for any background clean-up, then drops the private collector. Safe to call twice. */
    async close(): Promise<void> {
        await this.cleanup;
        const collector = this.collector;
        this.collector = undefined;
        if (collector) await this.client.destroyPropertyCollector(collector);
    }

    private async ownCollector(): Promise<MoRef> {
        this.collector ??= await this.client.createPropertyCollector();
        return this.collector;
    }

    private async watch(targets: readonly ObservedPowerState[], deadline: number, initial: ObservedState): Promise<ObservedState> {
        await this.cleanup;
        const collector = await this.ownCollector();
        const filter = await this.client.createFilter(collector, this.vm, [powerStatePath]);
        let cutAtDeadline = false;
        try {
            let state = initial;
            let version = "";
            for (;;) {
                const remaining = deadline - this.options.clock.now();
                // The first call (version "") only returns the current values and never waits.
                if (version !== "" && remaining <= 0) return state;
                const update = await this.waitOnce(collector, filter, version, remaining);
                if (update === "deadline") {
                    cutAtDeadline = true;
                    return state;
                }
                if (update) {
                    version = update.version;
                    if (update.objectLeft) throw new VmNotFoundError(this.vm.value, "it was removed while waiting for its power state");
                    if (update.changes.has(powerStatePath)) state = observedFromPowerState(update.changes.get(powerStatePath)?.text);
                }
                if (targets.includes(state.state)) return state;
            }
        } finally {
            const destroy = (): Promise<void> =>
                this.client
                    .destroyFilter(filter)
                    .catch((e: unknown) => this.options.log(`DestroyPropertyFilter failed: ${e instanceof Error ? e.message : String(e)}`));
            if (cutAtDeadline) {
                // The abandoned long poll is still open on the server, where it could swallow a
                // later change: cancel it, then drop the filter. That can take a server tick
                // (250 ms on vcsim), so it runs behind the caller's hard power-off, and the
                // next wait (or close) waits for it.
                this.cleanup = this.client
                    .cancelWaitForUpdates(collector)
                    .catch(() => undefined)
                    .then(destroy);
            } else {
                await destroy();
            }
        }
    }

    /** One WaitForUpdatesEx, raced against the deadline on the injected clock. */
    private async waitOnce(
        collector: MoRef,
        filter: MoRef,
        version: string,
        remainingMs: number,
    ): Promise<PropertyUpdate | undefined | "deadline"> {
        const maxWaitSeconds = Math.min(maxWaitSecondsCap, Math.max(1, Math.ceil(remainingMs / 1000)));
        const call = new AbortController();
        const timer = new AbortController();
        const pending = this.client.waitForUpdates(collector, filter, version, maxWaitSeconds, { signal: call.signal });
        const deadlineReached = this.options.clock.sleep(Math.max(0, remainingMs), timer.signal).then(() => "deadline" as const);
        try {
            const first = await Promise.race([
                pending.then((update) => ({ update })),
                version === "" ? new Promise<never>(() => undefined) : deadlineReached,
            ]);
            if (first !== "deadline") return first.update;
        } finally {
            timer.abort();
        }
        call.abort();
        const late = await pending.catch(() => "aborted" as const);
        return late === "aborted" ? "deadline" : late;
    }

    private async poll(targets: readonly ObservedPowerState[], deadline: number, initial: ObservedState): Promise<ObservedState> {
        const interval = this.options.pollIntervalMs ?? 1000;
        let state = initial;
        for (;;) {
            const remaining = deadline - this.options.clock.now();
            if (targets.includes(state.state) || remaining <= 0) return state;
            await this.options.clock.sleep(Math.min(interval, remaining));
            state = await this.options.read();
        }
    }
}
