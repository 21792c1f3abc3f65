import * as pulumi from "@pulumi/pulumi";
import { PlatformName, platformNames } from "../src/drivers/platform";
import { platformSpec } from "../src/drivers/registry";
import { InputError } from "../src/power/errors";
import { TransitionReport } from "../src/power/report";
import { ObservedPowerState } from "../src/power/states";
import { VmGroup } from "../src/providers/vmGroup";
import { VmPowerPolicyArgs, vmPowerPolicyKeys } from "../src/providers/vmPower";
import { GracefulVmTarget } from "./targets";

/** One VM of a {@link GracefulVmGroup}: a name, its target and its own power policy. */
export interface GracefulVmGroupMember extends VmPowerPolicyArgs {
    /** Unique in the group; outputs are keyed by it. */
    readonly name: string;
    /** The VM, exactly as in {@link GracefulVm}: one platform key. */
    readonly target: GracefulVmTarget;
    /**
     * Any value; when it changes, this VM is restarted gracefully (graceful stop with fallback,
     * start, agent wait if `waitForGuestAgent`). Only for VMs whose `powerState` is `On`.
     * @default no restarts
     */
    readonly restartTrigger?: pulumi.Input<unknown>;
}

/** A tier: VMs that may change together. */
export interface GracefulVmGroupTier {
    /** For humans. @default "tier <index>" */
    readonly name?: string;
    readonly vms: readonly GracefulVmGroupMember[];
}

export interface GracefulVmGroupArgs {
    /** Tiers in start order: tier 0 starts first and stops last (also on destroy). */
    readonly tiers: readonly GracefulVmGroupTier[];
    /** VMs changed at once across the group. @default 10 */
    readonly concurrency?: pulumi.Input<number>;
    /** VMs changed at once per vCenter / Proxmox endpoint / libvirt URI / Azure subscription. @default concurrency */
    readonly perEndpoint?: pulumi.Input<number>;
    /** After a VM fails: `halt` leaves later tiers alone, `continue` goes on. Either way the update fails. @default "halt" */
    readonly onFailure?: pulumi.Input<"halt" | "continue">;
    /** Any value; when it changes, every VM that is `On` restarts gracefully, rolling tier by tier. @default no restarts */
    readonly restartTrigger?: pulumi.Input<unknown>;
}

/**
 * The power state of a set of VMs in ordered tiers, held by one resource whose every update is
 * one fleet run: stops go from the last tier to the first, starts (and rolling restarts) from
 * the first to the last, at most `concurrency` VMs at once; destroy stops the last tier first.
 * Adding or removing a VM touches only that VM. A failed VM fails the update; its report and
 * every other VM's are in the error.
 */
export class GracefulVmGroup extends pulumi.ComponentResource {
    /** Per VM name: the power state reported after the last run that touched it. */
    public readonly observedPowerStates: pulumi.Output<Record<string, ObservedPowerState>>;
    /** Per VM name: the reports of the last run that touched it (a restart has two). */
    public readonly reports: pulumi.Output<Record<string, TransitionReport[]>>;
    /** The child resource holding the group's state. */
    public readonly group: VmGroup;

    constructor(name: string, args: GracefulVmGroupArgs, opts?: pulumi.ComponentResourceOptions) {
        super("graceful-vm:index:GracefulVmGroup", name, {}, opts);
        const vms: Record<string, pulumi.Input<Record<string, unknown>>> = {};
        const credentials: Record<string, pulumi.Input<Record<string, unknown>>> = {};
        if (!Array.isArray(args.tiers) || args.tiers.length === 0) throw new InputError("tiers", "must be a non-empty list of tiers");
        args.tiers.forEach((tier, index) => {
            for (const vm of tier.vms) {
                if (typeof vm.name !== "string" || vm.name === "")
                    throw new InputError(`tiers[${index}].vms.name`, "must be a non-empty string");
                if (vms[vm.name] !== undefined) throw new InputError(`tiers[${index}].vms.${vm.name}`, "appears twice in the group");
                const platform = targetPlatform(vm.target, `tiers[${index}].vms.${vm.name}.target`);
                const spec = platformSpec(platform, "target");
                const platformTarget = pulumi.output(vm.target[platform] as pulumi.Input<Record<string, unknown>>);
                vms[vm.name] = {
                    tier: index,
                    platform,
                    target: pulumi.unsecret(platformTarget.apply((t) => omit(t ?? {}, spec.secretFields))),
                    ...pick(vm, [...vmPowerPolicyKeys, "restartTrigger"]),
                };
                if (spec.secretFields.length > 0) credentials[vm.name] = platformTarget.apply((t) => pick(t ?? {}, spec.secretFields));
            }
        });
        this.group = new VmGroup(
            `${name}-group`,
            {
                vms,
                credentials,
                concurrency: args.concurrency,
                perEndpoint: args.perEndpoint,
                onFailure: args.onFailure,
                restartTrigger: args.restartTrigger,
            },
            { parent: this },
        );
        this.observedPowerStates = this.group.observedPowerStates;
        this.reports = this.group.reports;
        this.registerOutputs({ observedPowerStates: this.observedPowerStates, reports: this.reports });
    }
}

function targetPlatform(target: GracefulVmTarget | undefined, field: string): PlatformName {
    const given = platformNames.filter((p) => target?.[p] !== undefined);
    if (given.length !== 1) {
        throw new InputError(
            field,
            `must name exactly one of ${platformNames.join(", ")}; got ${given.length === 0 ? "none" : given.join(" and ")}`,
        );
    }
    return given[0];
}

function omit<T extends object>(obj: T, keys: readonly string[]): Record<string, unknown> {
    return Object.fromEntries(Object.entries(obj).filter(([k]) => !keys.includes(k)));
}

function pick<T extends object>(obj: T, keys: readonly string[]): Record<string, unknown> {
    return Object.fromEntries(Object.entries(obj).filter(([k]) => keys.includes(k) && (obj as Record<string, unknown>)[k] !== undefined));
}
