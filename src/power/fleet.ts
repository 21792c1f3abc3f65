import { Clock } from "./clock";
import { InputError } from "./errors";

/**
 * Many VMs changed in ordered tiers with bounded concurrency: the platform-free half of a fleet
 * run. Tiers are given in start order (the database before the application before the web
 * front); stopping and destroying walk them in reverse. Within a tier at most `concurrency` VMs
 * run at once, and at most `perEndpoint` per endpoint (one vCenter, one Proxmox cluster, one
 * libvirt host), so one maintenance window cannot flood one management server. No I/O: the
 * operation per VM and the clock are passed in.
 */
export interface FleetMember<T> {
    /** Unique within the fleet: reports are keyed by it. */
    readonly id: string;
    /** Position in start order: tier 0 starts first and stops last. */
    readonly tier: number;
    /** What shares a bound: VMs with the same endpoint count against `perEndpoint` together. */
    readonly endpoint: string;
    readonly item: T;
}

export type FleetDirection = "start" | "stop";

/** What happens to later tiers once a VM of a tier failed. */
export type FleetFailurePolicy = "halt" | "continue";

export interface FleetOptions {
    /** `start`: tier 0 first; `stop`: the last tier first. */
    readonly direction: FleetDirection;
    /** VMs changed at once across the fleet. */
    readonly concurrency: number;
    /** VMs changed at once per endpoint. @default concurrency */
    readonly perEndpoint?: number;
    /** `halt`: no VM of a later tier is touched after a failure. @default "halt" */
    readonly onFailure?: FleetFailurePolicy;
    /** Called when a VM starts and ends, for progress lines. */
    readonly onEvent?: (event: FleetEvent) => void;
}

export type FleetEvent =
    | { readonly kind: "tierStarted"; readonly tier: number; readonly atMs: number }
    | { readonly kind: "started"; readonly id: string; readonly tier: number; readonly atMs: number }
    | { readonly kind: "finished"; readonly id: string; readonly tier: number; readonly atMs: number; readonly ok: boolean }
    | { readonly kind: "tierFinished"; readonly tier: number; readonly atMs: number };

export type FleetOutcome<R> =
    | { readonly status: "done"; readonly result: R }
    | { readonly status: "failed"; readonly error: Error }
    | { readonly status: "skipped"; readonly reason: string };

export interface FleetMemberReport<R> {
    readonly id: string;
    readonly tier: number;
    readonly endpoint: string;
    readonly outcome: FleetOutcome<R>;
    /** Milliseconds after the fleet run started; absent when skipped. */
    readonly startMs?: number;
    readonly durationMs?: number;
}

export interface FleetTierReport {
    readonly tier: number;
    readonly startMs: number;
    readonly durationMs: number;
    readonly done: number;
    readonly failed: number;
    readonly skipped: number;
}

export interface FleetReport<R> {
    readonly direction: FleetDirection;
    /** In the order the tiers ran. */
    readonly tiers: readonly FleetTierReport[];
    /** In the order the members were given. */
    readonly members: readonly FleetMemberReport<R>[];
    readonly totals: { readonly done: number; readonly failed: number; readonly skipped: number; readonly durationMs: number };
    /** Set when `onFailure: "halt"` stopped the run before a tier. */
    readonly haltedBeforeTier?: number;
}

/** Which tiers run, in which order. */
export function tierOrder(members: readonly { readonly tier: number }[], direction: FleetDirection): number[] {
    const tiers = [...new Set(members.map((m) => m.tier))].sort((a, b) => a - b);
    return direction === "start" ? tiers : tiers.reverse();
}

export async function runFleet<T, R>(
    members: readonly FleetMember<T>[],
    options: FleetOptions,
    clock: Clock,
    operation: (member: FleetMember<T>) => Promise<R>,
): Promise<FleetReport<R>> {
    checkOptions(members, options);
    const started = clock.now();
    const at = (): number => clock.now() - started;
    const reports = new Map<string, FleetMemberReport<R>>();
    const tiers: FleetTierReport[] = [];
    let haltedBeforeTier: number | undefined;
    const onFailure = options.onFailure ?? "halt";
    const emit = safeEmitter(options.onEvent);

    for (const tier of tierOrder(members, options.direction)) {
        const inTier = members.filter((m) => m.tier === tier);
        const failedSoFar = [...reports.values()].some((r) => r.outcome.status === "failed");
        if (failedSoFar && onFailure === "halt") {
            haltedBeforeTier ??= tier;
            for (const m of inTier) {
                reports.set(m.id, {
                    id: m.id,
                    tier,
                    endpoint: m.endpoint,
                    outcome: { status: "skipped", reason: "an earlier tier failed" },
                });
            }
            tiers.push({ tier, startMs: at(), durationMs: 0, done: 0, failed: 0, skipped: inTier.length });
            continue;
        }
        const tierStart = at();
        emit({ kind: "tierStarted", tier, atMs: tierStart });
        await runTier(inTier, options, emit, at, operation, (report) => reports.set(report.id, report));
        const outcomes = inTier.map((m) => reports.get(m.id)?.outcome.status);
        tiers.push({
            tier,
            startMs: tierStart,
            durationMs: at() - tierStart,
            done: outcomes.filter((s) => s === "done").length,
            failed: outcomes.filter((s) => s === "failed").length,
            skipped: 0,
        });
        emit({ kind: "tierFinished", tier, atMs: at() });
    }

    const ordered = members.map((m) => reports.get(m.id) as FleetMemberReport<R>);
    const count = (status: FleetOutcome<R>["status"]): number => ordered.filter((r) => r.outcome.status === status).length;
    return {
        direction: options.direction,
        tiers,
        members: ordered,
        totals: { done: count("done"), failed: count("failed"), skipped: count("skipped"), durationMs: at() },
        ...(haltedBeforeTier !== undefined ? { haltedBeforeTier } : {}),
    };
}

/** One tier: members start in the given order as soon as both bounds allow. */
async function runTier<T, R>(
    members: readonly FleetMember<T>[],
    options: FleetOptions,
    emit: (event: FleetEvent) => void,
    at: () => number,
    operation: (member: FleetMember<T>) => Promise<R>,
    record: (report: FleetMemberReport<R>) => void,
): Promise<void> {
    const perEndpoint = options.perEndpoint ?? options.concurrency;
    const waiting = [...members];
    const runningPerEndpoint = new Map<string, number>();
    const running = new Set<Promise<void>>();

    const start = (member: FleetMember<T>): void => {
        runningPerEndpoint.set(member.endpoint, (runningPerEndpoint.get(member.endpoint) ?? 0) + 1);
        const startMs = at();
        emit({ kind: "started", id: member.id, tier: member.tier, atMs: startMs });
        const finish = (outcome: FleetOutcome<R>): void => {
            runningPerEndpoint.set(member.endpoint, (runningPerEndpoint.get(member.endpoint) ?? 1) - 1);
            const endMs = at();
            record({ id: member.id, tier: member.tier, endpoint: member.endpoint, outcome, startMs, durationMs: endMs - startMs });
            emit({ kind: "finished", id: member.id, tier: member.tier, atMs: endMs, ok: outcome.status === "done" });
        };
        const task: Promise<void> = Promise.resolve()
            .then(() => operation(member))
            .then(
                (result) => finish({ status: "done", result }),
                (e: unknown) => finish({ status: "failed", error: e instanceof Error ? e : new Error(String(e)) }),
            )
            .finally(() => running.delete(task));
        running.add(task);
    };

    while (waiting.length > 0 || running.size > 0) {
        let startedOne = false;
        for (let i = 0; i < waiting.length && running.size < options.concurrency;) {
            const member = waiting[i];
            if ((runningPerEndpoint.get(member.endpoint) ?? 0) < perEndpoint) {
                waiting.splice(i, 1);
                start(member);
                startedOne = true;
            } else {
                i++;
            }
        }
        if (!startedOne || running.size >= options.concurrency || waiting.length === 0) {
            if (running.size === 0) break;
            await Promise.race(running);
        }
    }
}

/** A progress listener that throws must not leave VMs running unattended: its errors are dropped. */
function safeEmitter(listener: FleetOptions["onEvent"]): (event: FleetEvent) => void {
    return (event) => {
        try {
            listener?.(event);
        } catch {
            // Progress is advisory; the run and its report are what matter.
        }
    };
}

function checkOptions(members: readonly FleetMember<unknown>[], options: FleetOptions): void {
    for (const [name, value] of [
        ["concurrency", options.concurrency],
        ["perEndpoint", options.perEndpoint ?? options.concurrency],
    ] as const) {
        if (!Number.isInteger(value) || value < 1) throw new InputError(name, `must be a whole number of at least 1, got ${value}`);
    }
    const seen = new Set<string>();
    for (const m of members) {
        if (seen.has(m.id)) throw new InputError(`members.${m.id}`, "appears twice; fleet member ids must be unique");
        seen.add(m.id);
        if (!Number.isInteger(m.tier) || m.tier < 0)
            throw new InputError(`members.${m.id}.tier`, `must be a whole number >= 0, got ${m.tier}`);
    }
}
