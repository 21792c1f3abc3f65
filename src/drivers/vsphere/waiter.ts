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
 * Waits for `runtime.powerState` to reach a target: one PropertyFilter per wait and a
 * WaitForUpdatesEx long poll, so a change arrives as soon as the server sees it. The long poll
 * is cut at the deadline (aborted, then CancelWaitForUpdates so the abandoned call cannot
 * swallow a later change). Servers without the PropertyCollector methods get polling.
 */
export class PowerStateWaiter {
    private eventsUnsupported = false;

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

    private async watch(targets: readonly ObservedPowerState[], deadline: number, initial: ObservedState): Promise<ObservedState> {
        const filter = await this.client.createFilter(this.vm, [powerStatePath]);
        try {
            let state = initial;
            let version = "";
            for (;;) {
                const remaining = deadline - this.options.clock.now();
                // The first call (version "") only returns the current values and never waits.
                if (version !== "" && remaining <= 0) return state;
                const update = await this.waitOnce(filter, version, remaining);
                if (update === "deadline") return state;
                if (update) {
                    version = update.version;
                    if (update.objectLeft) throw new VmNotFoundError(this.vm.value, "it was removed while waiting for its power state");
                    if (update.changes.has(powerStatePath)) state = observedFromPowerState(update.changes.get(powerStatePath)?.text);
                }
                if (targets.includes(state.state)) return state;
            }
        } finally {
            await this.client.destroyFilter(filter).catch((e: unknown) => this.options.log(`DestroyPropertyFilter failed: ${e instanceof Error ? e.message : String(e)}`));
        }
    }

    /** One WaitForUpdatesEx, raced against the deadline on the injected clock. */
    private async waitOnce(filter: MoRef, version: string, remainingMs: number): Promise<PropertyUpdate | undefined | "deadline"> {
        const maxWaitSeconds = Math.min(maxWaitSecondsCap, Math.max(1, Math.ceil(remainingMs / 1000)));
        const call = new AbortController();
        const timer = new AbortController();
        const pending = this.client.waitForUpdates(filter, version, maxWaitSeconds, { signal: call.signal });
        const deadlineReached = this.options.clock.sleep(Math.max(0, remainingMs), timer.signal).then(() => "deadline" as const);
        try {
            const first = await Promise.race([pending.then((update) => ({ update })), version === "" ? new Promise<never>(() => undefined) : deadlineReached]);
            if (first !== "deadline") return first.update;
        } finally {
            timer.abort();
        }
        call.abort();
        const late = await pending.catch(() => "aborted" as const);
        if (late !== "aborted") return late;
        await this.client.cancelWaitForUpdates().catch(() => undefined);
        return "deadline";
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
