import { Clock } from "../../power/clock";
import { ObservedState } from "../../power/driver";
import { VmNotFoundError } from "../../power/errors";
import { ObservedPowerState } from "../../power/states";
import { PropertyValues, UpdateSet, VimClient } from "./client";
import { VimFault, isMethodMissing } from "./faults";
import { MoRef, SoapCallAborted } from "./soap";
import { XmlElement } from "./xml";

/** `runtime.powerState` as the core sees it; the vSphere word stays in `detail`. */
export function observedFromPowerState(powerState: string | undefined): ObservedState {
    const value = powerState?.trim() ?? "";
    const state: ObservedPowerState =
        value === "poweredOn" ? "running" : value === "poweredOff" ? "stopped" : value === "suspended" ? "suspended" : "unknown";
    return { state, detail: value || "no runtime.powerState" };
}

export const powerStatePath = "runtime.powerState";

/** What the watcher follows, per object type: VMs' power state, tasks' state and fault. */
const watchedPaths: Readonly<Record<string, readonly string[]>> = {
    VirtualMachine: [powerStatePath],
    Task: ["info.state", "info.error"],
};

/** A long poll longer than this risks idle timeouts in proxies between us and vCenter. */
const maxWaitSecondsCap = 30;

/** What the watcher needs from its session. */
export interface WatcherHost {
    /** The session's client (it re-logs in after NotAuthenticated). */
    readonly client: VimClient;
    /** Bumped at every new login: the collector, view and filter of an older one are gone. */
    readonly generation: number;
    readonly clock: Clock;
    readonly log: (message: string) => void;
}

/** The object left the view: it was deleted. */
export class ObjectLeftError extends Error {
    constructor(readonly obj: MoRef) {
        super(`${obj.value} was removed while waiting for it`);
        this.name = "ObjectLeftError";
    }
}

/** Property path → latest value known (`undefined`: not set). */
export type WatchedValues = ReadonlyMap<string, XmlElement | undefined>;

export interface WaitResult {
    readonly values: WatchedValues;
    /** False when the deadline passed first. */
    readonly reached: boolean;
}

interface Waiter {
    readonly deadline: number;
    readonly done: (values: WatchedValues) => boolean;
    readonly resolve: (result: WaitResult) => void;
    readonly reject: (error: unknown) => void;
}

interface Entry {
    readonly obj: MoRef;
    readonly values: Map<string, XmlElement | undefined>;
    readonly waiters: Set<Waiter>;
}

interface Objects {
    readonly generation: number;
    readonly collector: MoRef;
    readonly view: MoRef;
}

const keyOf = (obj: MoRef): string => `${obj.type}:${obj.value}`;

/**
 * The one waiter of a vSphere session: a PropertyCollector of the session's own, one ListView
 * holding every object someone waits on (VMs, tasks), one PropertyFilter over that view, and
 * one WaitForUpdatesEx loop whose answers are dispatched to each object's waiters. A fleet of
 * N VMs on one endpoint costs one long poll, not N.
 *
 * Objects enter the view at their first wait and leave it when released (a VM's driver closes,
 * a task ends); the ListView changes are batched into one ModifyListView per tick. Each waiter
 * has its own deadline on the injected clock and is answered at it with the latest values, so
 * a deadline never cuts the shared long poll. The loop runs while someone waits and stops by
 * itself after that (its last poll is bounded by the latest deadline); `shutdown()` cancels a
 * poll still open (CancelWaitForUpdates). After a re-login the loop builds the collector, view
 * and filter again in the new session and reads every object's current values (version "").
 */
export class PropertyWatcher {
    private readonly entries = new Map<string, Entry>();
    private readonly toAdd = new Map<string, MoRef>();
    private readonly toRemove = new Map<string, MoRef>();
    /** `leave` updates our own ModifyListView removals will cause: not deletions. */
    private readonly expectedLeaves = new Map<string, number>();
    private objects: Objects | undefined;
    private version = "";
    private loop: Promise<void> | undefined;
    private flushing: Promise<void> | undefined;
    private inflight: AbortController | undefined;
    private closed = false;
    /** The server lacks the PropertyCollector or ListView methods: waiters poll instead. */
    unsupported: VimFault | undefined;

    constructor(private readonly host: WatcherHost) {}

    /** How many objects are in the view (or about to be). */
    get watching(): number {
        return this.entries.size;
    }

    /**
     * Resolves once `done(values)` holds for `obj`'s values (checked on every update), or at
     * `deadline` with the latest values (`reached: false`). `seed` is what the caller read just
     * before: it replaces older values. Rejects with ObjectLeftError when the object is deleted,
     * and with the loop's error when the long poll fails.
     */
    waitUntil(obj: MoRef, seed: PropertyValues, done: (values: WatchedValues) => boolean, deadline: number): Promise<WaitResult> {
        if (this.closed) return Promise.reject(new Error("the vSphere session is closed"));
        const entry = this.entryFor(obj);
        for (const [path, value] of seed) entry.values.set(path, value);
        if (done(entry.values)) return Promise.resolve({ values: entry.values, reached: true });
        return new Promise<WaitResult>((resolve, reject) => {
            const timer = new AbortController();
            const finish = (): void => {
                entry.waiters.delete(waiter);
                timer.abort();
            };
            const waiter: Waiter = {
                deadline,
                done,
                resolve: (result) => {
                    finish();
                    resolve(result);
                },
                reject: (error) => {
                    finish();
                    reject(error);
                },
            };
            entry.waiters.add(waiter);
            void this.host.clock.sleep(Math.max(0, deadline - this.host.clock.now()), timer.signal).then(() => {
                if (entry.waiters.has(waiter)) waiter.resolve({ values: entry.values, reached: false });
            });
            this.ensureLoop();
        });
    }

    /** Takes `obj` out of the view once nobody waits on it (a driver closing, a task that ended). */
    release(obj: MoRef): void {
        const key = keyOf(obj);
        const entry = this.entries.get(key);
        if (!entry || entry.waiters.size > 0) return;
        this.entries.delete(key);
        if (this.toAdd.delete(key)) return;
        this.toRemove.set(key, obj);
        this.scheduleFlush();
    }

    /** The session logged in again: the old collector is gone; the loop rebuilds at once. */
    sessionRenewed(): void {
        this.inflight?.abort();
    }

    /**
     * Ends the loop: cancels a long poll still open, drops the collector (and its filter). Waiters
     * still waiting are answered with their latest values.
     */
    async shutdown(): Promise<void> {
        if (this.closed) return;
        this.closed = true;
        for (const entry of this.entries.values())
            for (const waiter of [...entry.waiters]) waiter.resolve({ values: entry.values, reached: false });
        const objects = this.objects;
        this.objects = undefined;
        const current = objects && objects.generation === this.host.generation ? objects : undefined;
        if (this.inflight && current) {
            await this.host.client.cancelWaitForUpdates(current.collector).catch(() => undefined);
        }
        this.inflight?.abort();
        await this.loop;
        if (current) await this.host.client.destroyPropertyCollector(current.collector);
    }

    private entryFor(obj: MoRef): Entry {
        const key = keyOf(obj);
        let entry = this.entries.get(key);
        if (!entry) {
            entry = { obj, values: new Map(), waiters: new Set() };
            this.entries.set(key, entry);
            if (!this.toRemove.delete(key)) this.toAdd.set(key, obj);
            this.scheduleFlush();
        }
        return entry;
    }

    private waiting(): number {
        let count = 0;
        for (const entry of this.entries.values()) count += entry.waiters.size;
        return count;
    }

    private latestDeadline(): number {
        let latest = 0;
        for (const entry of this.entries.values()) for (const waiter of entry.waiters) latest = Math.max(latest, waiter.deadline);
        return latest;
    }

    private ensureLoop(): void {
        if (this.loop || this.closed) return;
        this.loop = this.run().finally(() => {
            this.loop = undefined;
            if (this.waiting() > 0 && !this.closed) this.ensureLoop();
        });
    }

    private async run(): Promise<void> {
        while (this.waiting() > 0 && !this.closed) {
            const generation = this.host.generation;
            try {
                const objects = await this.ensureObjects();
                await this.flush();
                // Bounded by the latest deadline: the poll ends soon after its last waiter.
                const remainingMs = this.latestDeadline() - this.host.clock.now();
                const maxWaitSeconds = Math.min(maxWaitSecondsCap, Math.max(1, Math.ceil(remainingMs / 1000)));
                this.inflight = new AbortController();
                const update = await this.host.client.waitForUpdates(objects.collector, this.version, maxWaitSeconds, {
                    signal: this.inflight.signal,
                });
                if (generation !== this.host.generation || this.closed) continue;
                if (update) this.dispatch(update);
            } catch (e) {
                if (this.closed) return;
                // A re-login happened meanwhile: what failed belonged to the old session.
                if (generation !== this.host.generation || e instanceof SoapCallAborted) continue;
                if (isMethodMissing(e)) {
                    this.unsupported = e;
                    this.host.log(`this vSphere endpoint does not support ${e.operation.split(" ")[0]} (${e.faultType}); polling instead`);
                }
                // Built again at the next wait (version "": every value afresh), in case what
                // failed was the collector or view itself.
                this.objects = undefined;
                this.failWaiters(e);
                return;
            } finally {
                this.inflight = undefined;
            }
        }
    }

    /** The collector, view (with every object waited on) and filter of the current login. */
    private async ensureObjects(): Promise<Objects> {
        const generation = this.host.generation;
        if (this.objects?.generation === generation) return this.objects;
        const client = this.host.client;
        const collector = await client.createPropertyCollector();
        // Objects that come while the view is being made stay queued for the next ModifyListView.
        const initial = [...this.entries.values()].map((e) => e.obj);
        this.toAdd.clear();
        this.toRemove.clear();
        this.expectedLeaves.clear();
        const view = await client.createListView(initial);
        await client.createViewFilter(collector, view, watchedPaths);
        this.version = "";
        this.objects = { generation, collector, view };
        return this.objects;
    }

    private scheduleFlush(): void {
        if (this.flushing || !this.objects) return;
        this.flushing = new Promise<void>((resolve) => setImmediate(resolve))
            .then(() => this.flush())
            .catch((e: unknown) => this.host.log(`ModifyListView failed: ${e instanceof Error ? e.message : String(e)}`))
            .finally(() => (this.flushing = undefined));
    }

    /** One ModifyListView for every object that came or went since the last one. */
    private async flush(): Promise<void> {
        const objects = this.objects;
        if (!objects || objects.generation !== this.host.generation || (this.toAdd.size === 0 && this.toRemove.size === 0)) return;
        const add = [...this.toAdd.values()];
        const remove = [...this.toRemove.values()];
        this.toAdd.clear();
        this.toRemove.clear();
        for (const obj of remove) this.expectedLeaves.set(keyOf(obj), (this.expectedLeaves.get(keyOf(obj)) ?? 0) + 1);
        try {
            const refused = await this.host.client.modifyListView(objects.view, add, remove);
            for (const obj of refused) this.objectLeft(obj);
        } catch (e) {
            const missing =
                e instanceof VimFault && e.faultType === "ManagedObjectNotFound" ? add.find((o) => o.value === e.fields.obj) : undefined;
            if (!missing || objects.generation !== this.host.generation) throw e;
            // vcsim refuses the whole call for one deleted object: that one left, the rest again.
            this.objectLeft(missing);
            for (const obj of add) if (obj !== missing && this.entries.has(keyOf(obj))) this.toAdd.set(keyOf(obj), obj);
            for (const obj of remove) this.toRemove.set(keyOf(obj), obj);
            await this.flush();
        }
    }

    private dispatch(update: UpdateSet): void {
        this.version = update.version;
        for (const object of update.objects) {
            const key = keyOf(object.obj);
            if (object.kind === "leave") {
                // Leaving the view because we removed it (a VM whose driver closed, perhaps
                // waited on again since: a restart's second half) is not a deletion.
                const expected = this.expectedLeaves.get(key) ?? 0;
                if (expected > 0) {
                    if (expected === 1) this.expectedLeaves.delete(key);
                    else this.expectedLeaves.set(key, expected - 1);
                } else this.objectLeft(object.obj);
                continue;
            }
            const entry = this.entries.get(key);
            if (!entry) continue;
            for (const [path, value] of object.changes) entry.values.set(path, value);
            for (const waiter of [...entry.waiters]) if (waiter.done(entry.values)) waiter.resolve({ values: entry.values, reached: true });
        }
    }

    private objectLeft(obj: MoRef): void {
        const entry = this.entries.get(keyOf(obj));
        if (!entry) return;
        this.entries.delete(keyOf(obj));
        for (const waiter of [...entry.waiters]) waiter.reject(new ObjectLeftError(obj));
    }

    private failWaiters(error: unknown): void {
        for (const entry of this.entries.values()) for (const waiter of [...entry.waiters]) waiter.reject(error);
    }
}

export interface PowerStateWaiterOptions {
    readonly clock: Clock;
    readonly log: (message: string) => void;
    /** Reads `runtime.powerState` (RetrievePropertiesEx), with the driver's error mapping. */
    readonly read: () => Promise<PropertyValues>;
    /** `events` (the session's watcher) unless the server lacks it; `poll` forces polling. @default "events" */
    readonly mode?: "events" | "poll";
    /** Polling interval when polling. @default 1000 */
    readonly pollIntervalMs?: number;
}

/**
 * Waits for one VM's `runtime.powerState` to reach a target: one cheap read first (the verify
 * after a finished shutdown needs nothing more), then the session's shared watcher, or polling
 * where the server has no PropertyCollector methods.
 */
export class PowerStateWaiter {
    constructor(
        private readonly watcher: PropertyWatcher,
        private readonly vm: MoRef,
        private readonly options: PowerStateWaiterOptions,
    ) {}

    async waitFor(targets: readonly ObservedPowerState[], deadline: number): Promise<ObservedState> {
        const values = await this.options.read();
        const current = observedFromPowerState(values.get(powerStatePath)?.text);
        if (targets.includes(current.state) || this.options.clock.now() >= deadline) return current;
        if (this.options.mode === "poll" || this.watcher.unsupported) return this.poll(targets, deadline, current);
        try {
            const reached = (v: WatchedValues): boolean => targets.includes(observedFromPowerState(v.get(powerStatePath)?.text).state);
            const result = await this.watcher.waitUntil(this.vm, values, reached, deadline);
            return observedFromPowerState(result.values.get(powerStatePath)?.text);
        } catch (e) {
            if (e instanceof ObjectLeftError) throw new VmNotFoundError(this.vm.value, "it was removed while waiting for its power state");
            if (!isMethodMissing(e)) throw e;
            const fresh = observedFromPowerState((await this.options.read()).get(powerStatePath)?.text);
            return this.poll(targets, deadline, fresh);
        }
    }

    private async poll(targets: readonly ObservedPowerState[], deadline: number, initial: ObservedState): Promise<ObservedState> {
        const interval = this.options.pollIntervalMs ?? 1000;
        let state = initial;
        for (;;) {
            const remaining = deadline - this.options.clock.now();
            if (targets.includes(state.state) || remaining <= 0) return state;
            await this.options.clock.sleep(Math.min(interval, remaining));
            state = observedFromPowerState((await this.options.read()).get(powerStatePath)?.text);
        }
    }
}
