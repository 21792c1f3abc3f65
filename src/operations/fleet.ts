import { Clock, systemClock } from "../power/clock";
import { InputError, PowerTransitionError } from "../power/errors";
import { FleetDirection, FleetEvent, FleetFailurePolicy, FleetMember, FleetReport, runFleet } from "../power/fleet";
import { TransitionReport } from "../power/report";
import { DesiredPowerState } from "../power/states";
import { TransitionProgress } from "../power/transition";
import { VmPowerInputs } from "./inputs";
import { cleanupBoundMs, closeSessionsWithin, transition } from "./run";
import { SessionPool } from "./sessions";

/**
 * A fleet run over real drivers: the core runner (ordering, bounds, policy) with the per-VM
 * sequence of `transition` as its operation. Shared by the CLI's `--fleet` and the group resource.
 */
export type FleetAction = DesiredPowerState | "Restart";

/** One VM of a fleet, its inputs already validated. */
export interface FleetVm {
    /** Unique in the fleet; reports are keyed by it. */
    readonly name: string;
    /** Start order: tier 0 starts first and stops last. */
    readonly tier: number;
    readonly inputs: VmPowerInputs;
    /** This VM's own action, when a run mixes them (a group's update); the run's `action` otherwise. */
    readonly action?: FleetAction;
}

export interface FleetRunOptions {
    readonly action: FleetAction;
    /** Tier order; by default the action's (see directionOf). */
    readonly direction?: FleetDirection;
    /** VMs changed at once across the fleet. */
    readonly concurrency: number;
    /** VMs changed at once per endpoint (vCenter, Proxmox cluster, libvirt host, Azure subscription). @default concurrency */
    readonly perEndpoint?: number;
    /** @default "halt" */
    readonly onFailure?: FleetFailurePolicy;
    readonly clock?: Clock;
    readonly log?: (message: string) => void;
    readonly onFleetEvent?: (event: FleetEvent) => void;
    /** A VM's sequence entered a phase. */
    readonly onVmProgress?: (name: string, step: FleetStep, progress: TransitionProgress) => void;
    /** The run's shared connections; by default the run opens its own and closes them at its end. */
    readonly sessions?: SessionPool;
}

/** Which half of a restart a report belongs to; `transition` for every other action. */
export type FleetStep = "transition" | "stop" | "start";

/** What one VM went through: one report, or two for a restart (stop, then start). */
export interface FleetVmResult {
    readonly reports: readonly TransitionReport[];
}

/** A VM's sequence failed; the reports of the steps that ran (the failed one last) ride along. */
export class FleetVmError extends Error {
    constructor(
        message: string,
        readonly reports: readonly TransitionReport[],
        options?: ErrorOptions,
    ) {
        super(message, options);
        this.name = "FleetVmError";
    }
}

/**
 * Stopping walks the tiers in reverse, starting forwards. A restart rolls forwards too: each
 * tier is back (and its agents answer, if asked) before the tier that depends on it restarts.
 */
export function directionOf(action: FleetAction): FleetDirection {
    return action === "On" || action === "Restart" ? "start" : "stop";
}

/** What shares a bound: the management server a VM is reached through. No secrets. */
export function endpointOf(inputs: VmPowerInputs): string {
    const t = inputs.target;
    const pick = (key: string): string => (typeof t[key] === "string" || typeof t[key] === "number" ? String(t[key]) : "");
    switch (inputs.platform) {
        case "vsphere":
            return `vsphere ${pick("url")}`;
        case "proxmox":
            return `proxmox ${pick("endpoint")}`;
        case "azure":
            return `azure ${pick("resourceManagerEndpoint") || "management.azure.com"} ${pick("subscriptionId")}`;
        case "libvirt":
            return `libvirt ${pick("uri")}`;
        case "custom":
            return `custom ${pick("module")}`;
    }
}

export async function runFleetOperation(vms: readonly FleetVm[], options: FleetRunOptions): Promise<FleetReport<FleetVmResult>> {
    {
        const cannot = vms.find((vm) => (vm.action ?? options.action) === "Deallocated" && vm.inputs.platform !== "azure");
        if (cannot)
            throw new InputError(`fleet.${cannot.name}`, `"Deallocated" is only supported on Azure; this VM is ${cannot.inputs.platform}`);
    }
    const members: FleetMember<FleetVm>[] = vms.map((vm) => ({ id: vm.name, tier: vm.tier, endpoint: endpointOf(vm.inputs), item: vm }));
    const clock = options.clock ?? systemClock;
    const sessions = options.sessions ?? new SessionPool({ clock, log: options.log });
    try {
        return await runFleet(
            members,
            {
                direction: options.direction ?? directionOf(options.action),
                concurrency: options.concurrency,
                perEndpoint: options.perEndpoint,
                onFailure: options.onFailure,
                onEvent: options.onFleetEvent,
            },
            clock,
            (member) => runOne(member.item, { ...options, sessions }, clock),
        );
    } finally {
        if (!options.sessions) await closeSessionsWithin(sessions, cleanupBoundMs, options.log);
    }
}

async function runOne(vm: FleetVm, options: FleetRunOptions, clock: Clock): Promise<FleetVmResult> {
    const action = vm.action ?? options.action;
    const steps: { step: FleetStep; desired: DesiredPowerState }[] =
        action === "Restart"
            ? [
                  { step: "stop", desired: "OffGraceful" },
                  { step: "start", desired: "On" },
              ]
            : [{ step: "transition", desired: action }];
    const reports: TransitionReport[] = [];
    for (const { step, desired } of steps) {
        try {
            reports.push(
                await transition(vm.inputs, desired, {
                    clock,
                    log: options.log ? (m) => options.log?.(`${vm.name}: ${m}`) : undefined,
                    onProgress: options.onVmProgress ? (p) => options.onVmProgress?.(vm.name, step, p) : undefined,
                    sessions: options.sessions,
                }),
            );
        } catch (e) {
            const failed = e instanceof PowerTransitionError ? [...reports, e.report as TransitionReport] : reports;
            const message = e instanceof Error ? e.message : String(e);
            throw new FleetVmError(`${vm.name}${step === "transition" ? "" : ` (${step})`}: ${message}`, failed, { cause: e });
        }
    }
    return { reports };
}

/** Whether any VM had to be powered off hard after asking its guest. */
export function anyForced(report: FleetReport<FleetVmResult>): boolean {
    return report.members.some((m) => m.outcome.status === "done" && m.outcome.result.reports.some((r) => r.method === "forced"));
}

/** Every report a member produced, including those of a failed sequence. */
export function memberReports(outcome: FleetReport<FleetVmResult>["members"][number]["outcome"]): readonly TransitionReport[] {
    if (outcome.status === "done") return outcome.result.reports;
    if (outcome.status === "failed" && outcome.error instanceof FleetVmError) return outcome.error.reports;
    return [];
}
