import { Clock } from "../power/clock";
import { InputError } from "../power/errors";
import { FleetFailurePolicy, FleetReport } from "../power/fleet";
import { TransitionReport, summarizeReport } from "../power/report";
import { ObservedPowerState, isSatisfied } from "../power/states";
import { FleetAction, FleetVm, FleetVmResult, memberReports, runFleetOperation } from "./fleet";
import { VmPowerInputs, validateInputs } from "./inputs";

/**
 * The desired state of a group of VMs in tiers, and what one `pulumi up` (or destroy) does to
 * reach it: only VMs whose inputs changed, that drifted, or whose restart trigger changed are
 * touched; VMs that leave the group get their destroy shutdown. Stops run first, the last tier
 * first; then restarts and starts, tier 0 first. No Pulumi here: the group's provider calls it.
 */
export interface GroupVmInputs extends VmPowerInputs {
    readonly tier: number;
    /** Any value; when it changes, the VM is restarted gracefully. */
    readonly restartTrigger?: unknown;
}

export interface GroupInputs {
    readonly vms: Readonly<Record<string, GroupVmInputs>>;
    readonly concurrency: number;
    readonly perEndpoint?: number;
    readonly onFailure: FleetFailurePolicy;
    /** Any value; when it changes, every VM restarts, rolling tier by tier. */
    readonly restartTrigger?: unknown;
}

/** What the group holds per VM after a run, for outputs and the next diff. */
export interface GroupVmState {
    readonly observedPowerState: ObservedPowerState;
    /** The reports of the last run that touched the VM (two for a restart). */
    readonly lastReports: readonly TransitionReport[];
}

export type GroupState = Readonly<Record<string, GroupVmState>>;

/** One VM's part in a run, for the error of a failed one. */
export interface GroupVmOutcome {
    readonly name: string;
    readonly status: "done" | "failed" | "skipped" | "unchanged";
    readonly summary: string;
}

/** A group run failed: every VM's outcome and reports ride along, and the state reached so far. */
export class GroupRunError extends Error {
    constructor(
        message: string,
        readonly outcomes: readonly GroupVmOutcome[],
        readonly state: GroupState,
    ) {
        super(message);
        this.name = "GroupRunError";
    }
}

/** Validates every VM, naming fields `vms.<name>.<field>`. */
export function validateGroup(raw: Record<string, unknown>): { inputs: GroupInputs; errors: InputError[] } {
    const errors: InputError[] = [];
    const vms: Record<string, GroupVmInputs> = {};
    const rawVms = raw.vms;
    if (typeof rawVms !== "object" || rawVms === null || Array.isArray(rawVms)) {
        errors.push(new InputError("vms", "must be an object of VMs by name"));
    } else {
        const credentials = (raw.credentials ?? {}) as Record<string, Record<string, unknown> | undefined>;
        for (const [name, value] of Object.entries(rawVms as Record<string, Record<string, unknown>>)) {
            const { tier, restartTrigger, ...rest } = value;
            const { inputs, errors: vmErrors } = validateInputs({ ...rest, credentials: credentials[name] });
            errors.push(...vmErrors.map((e) => new InputError(`vms.${name}.${e.field}`, e.reason)));
            if (typeof tier !== "number" || !Number.isInteger(tier) || tier < 0) {
                errors.push(new InputError(`vms.${name}.tier`, `must be a whole number >= 0; got ${JSON.stringify(tier)}`));
            }
            vms[name] = { ...inputs, tier: tier as number, ...(restartTrigger !== undefined ? { restartTrigger } : {}) };
        }
    }
    const concurrency = raw.concurrency ?? 10;
    if (typeof concurrency !== "number" || !Number.isInteger(concurrency) || concurrency < 1) {
        errors.push(new InputError("concurrency", `must be a whole number of at least 1; got ${JSON.stringify(concurrency)}`));
    }
    if (
        raw.perEndpoint !== undefined &&
        (typeof raw.perEndpoint !== "number" || !Number.isInteger(raw.perEndpoint) || raw.perEndpoint < 1)
    ) {
        errors.push(new InputError("perEndpoint", `must be a whole number of at least 1; got ${JSON.stringify(raw.perEndpoint)}`));
    }
    const onFailure = raw.onFailure ?? "halt";
    if (onFailure !== "halt" && onFailure !== "continue") {
        errors.push(new InputError("onFailure", `must be "halt" or "continue"; got ${JSON.stringify(onFailure)}`));
    }
    return {
        inputs: {
            vms,
            concurrency: concurrency as number,
            ...(raw.perEndpoint !== undefined ? { perEndpoint: raw.perEndpoint as number } : {}),
            onFailure: onFailure as FleetFailurePolicy,
            ...(raw.restartTrigger !== undefined ? { restartTrigger: raw.restartTrigger } : {}),
        },
        errors,
    };
}

/** Fields whose change means the VM must be brought to its state again (tier alone does not). */
const appliedKeys = [
    "platform",
    "target",
    "credentials",
    "powerState",
    "gracefulShutdownTimeout",
    "forceAfterTimeout",
    "stopBeforeDeallocate",
    "waitForGuestAgent",
] as const;

function same(a: unknown, b: unknown): boolean {
    return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

/** What a run would do to each VM: an action, or nothing. */
export function planGroup(
    old: { inputs: GroupInputs; state: GroupState } | undefined,
    next: GroupInputs | undefined,
): Map<string, FleetAction> {
    const plan = new Map<string, FleetAction>();
    for (const [name, vm] of Object.entries(next?.vms ?? {})) {
        const before = old?.inputs.vms[name];
        const observed = old?.state[name]?.observedPowerState;
        const triggered =
            before !== undefined &&
            vm.powerState === "On" &&
            (!same(before.restartTrigger, vm.restartTrigger) || !same(old?.inputs.restartTrigger, next?.restartTrigger));
        if (triggered) plan.set(name, "Restart");
        else if (
            !before ||
            appliedKeys.some((k) => !same(before[k], vm[k])) ||
            observed === undefined ||
            !isSatisfied(vm.powerState, observed)
        ) {
            plan.set(name, vm.powerState);
        }
    }
    for (const [name, vm] of Object.entries(old?.inputs.vms ?? {})) {
        if (next?.vms[name] !== undefined || vm.shutdownOnDestroy === "none") continue;
        plan.set(name, vm.shutdownOnDestroy === "hard" ? "Off" : "OffGraceful");
    }
    return plan;
}

export interface GroupRunContext {
    readonly clock?: Clock;
    readonly log?: (message: string) => void;
}

/**
 * Brings the group from `old` to `next` (undefined: destroy). Returns the new per-VM state, or
 * throws GroupRunError with every VM's outcome and the state reached.
 */
export async function applyGroup(
    old: { inputs: GroupInputs; state: GroupState } | undefined,
    next: GroupInputs | undefined,
    context: GroupRunContext = {},
): Promise<GroupState> {
    const plan = planGroup(old, next);
    const settings = next ?? old?.inputs;
    const inputsOf = (name: string): GroupVmInputs => (next?.vms[name] ?? old?.inputs.vms[name]) as GroupVmInputs;
    const vmsFor = (actions: readonly FleetAction[]): FleetVm[] =>
        [...plan.entries()]
            .filter(([, action]) => actions.includes(action))
            .map(([name, action]) => ({ name, tier: inputsOf(name).tier, inputs: inputsOf(name), action }));
    const passes: { direction: "stop" | "start"; vms: FleetVm[] }[] = [
        { direction: "stop", vms: vmsFor(["Off", "OffGraceful", "Deallocated"]) },
        { direction: "start", vms: vmsFor(["Restart", "On"]) },
    ];
    const results = new Map<string, FleetReport<FleetVmResult>["members"][number]>();
    let failed = false;
    for (const pass of passes) {
        if (pass.vms.length === 0) continue;
        if (failed && settings?.onFailure !== "continue") {
            for (const vm of pass.vms) {
                results.set(vm.name, {
                    id: vm.name,
                    tier: vm.tier,
                    endpoint: "",
                    outcome: { status: "skipped", reason: "an earlier tier failed" },
                });
            }
            continue;
        }
        const report = await runFleetOperation(pass.vms, {
            action: "On",
            direction: pass.direction,
            concurrency: settings?.concurrency ?? 10,
            perEndpoint: settings?.perEndpoint,
            onFailure: settings?.onFailure,
            clock: context.clock,
            log: context.log,
        });
        for (const m of report.members) results.set(m.id, m);
        if (report.totals.failed > 0) failed = true;
    }

    const state: Record<string, GroupVmState> = {};
    const outcomes: GroupVmOutcome[] = [];
    for (const name of Object.keys(next?.vms ?? {}).concat([...plan.keys()].filter((n) => next?.vms[n] === undefined))) {
        const result = results.get(name);
        const previous = old?.state[name];
        const reports = result ? memberReports(result.outcome) : [];
        const last = reports.at(-1);
        if (next?.vms[name] !== undefined) {
            state[name] = last
                ? { observedPowerState: last.to, lastReports: reports }
                : (previous ?? { observedPowerState: "unknown", lastReports: [] });
        }
        const status = result?.outcome.status ?? "unchanged";
        const summary =
            result?.outcome.status === "failed"
                ? result.outcome.error.message
                : result?.outcome.status === "skipped"
                  ? result.outcome.reason
                  : reports.map(summarizeReport).join("; ") || "no change";
        outcomes.push({ name, status, summary });
    }
    if (failed) {
        const lines = outcomes.map((o) => `  ${o.name}: ${o.status}: ${o.summary}`);
        throw new GroupRunError(`the group's run failed:\n${lines.join("\n")}`, outcomes, state);
    }
    return state;
}
