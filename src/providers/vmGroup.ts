import * as pulumi from "@pulumi/pulumi";
import { TransitionReport } from "../power/report";
import { ObservedPowerState } from "../power/states";

/**
 * The serialized half of the VmGroup provider: like vmPowerProvider, only a `require` by package
 * name, so the text in state carries no configuration or secrets.
 */
type GroupRuntime = typeof import("./groupRuntime");

function runtime(): GroupRuntime {
    return (require("pulumi-graceful-vm/provider-runtime") as { group: GroupRuntime }).group;
}

export const vmGroupProvider: pulumi.dynamic.ResourceProvider = {
    async check(olds, news) {
        return runtime().check(olds, news);
    },
    async diff(id, olds, news) {
        return runtime().diff(id, olds, news);
    },
    async create(inputs) {
        return runtime().create(inputs);
    },
    async read(id, props) {
        return runtime().read(id, props);
    },
    async update(id, olds, news) {
        return runtime().update(id, olds, news);
    },
    async delete(id, props) {
        return runtime().remove(id, props);
    },
};

/** Arguments of the low-level VmGroup resource. Most users want the GracefulVmGroup component. */
export interface VmGroupArgs {
    /** Per VM name: VmPower's inputs (`platform`, `target`, the power policy) plus `tier` and `restartTrigger`. */
    readonly vms: pulumi.Input<Record<string, pulumi.Input<Record<string, unknown>>>>;
    /** Secret fields per VM name. Always stored as a Pulumi secret. */
    readonly credentials?: pulumi.Input<Record<string, pulumi.Input<Record<string, pulumi.Input<unknown>>>>>;
    readonly concurrency?: pulumi.Input<number>;
    readonly perEndpoint?: pulumi.Input<number>;
    readonly onFailure?: pulumi.Input<"halt" | "continue">;
    readonly restartTrigger?: pulumi.Input<unknown>;
}

/** The desired power state of a set of VMs in tiers, changed by one fleet run per update. Type `graceful-vm:VmGroup`. */
export class VmGroup extends pulumi.dynamic.Resource {
    /** Per VM name: what the platform reported after the last run that touched it. */
    declare public readonly observedPowerStates: pulumi.Output<Record<string, ObservedPowerState>>;
    /** Per VM name: the reports of the last run that touched it (two for a restart). */
    declare public readonly reports: pulumi.Output<Record<string, TransitionReport[]>>;

    constructor(name: string, args: VmGroupArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            vmGroupProvider,
            name,
            {
                ...args,
                credentials: args.credentials === undefined ? undefined : pulumi.secret(args.credentials),
                vmStates: undefined,
                observedPowerStates: undefined,
                reports: undefined,
            },
            { ...opts, additionalSecretOutputs: ["credentials", ...(opts?.additionalSecretOutputs ?? [])] },
            "graceful-vm",
            "VmGroup",
        );
    }
}
