import * as pulumi from "@pulumi/pulumi";
import { PlatformName } from "../drivers/platform";
import { Duration } from "../power/duration";
import { TransitionReport } from "../power/report";
import { DesiredPowerState, ObservedPowerState, ShutdownOnDestroyPolicy } from "../power/states";
import { powerPolicyKeys } from "../operations/inputs";
import { vmPowerProvider } from "./provider";

/** How a VM's power is held and changed: shared by VmPower and the GracefulVm component. */
export interface VmPowerPolicyArgs {
    /**
     * The power state to hold the VM in. `Off` powers off hard; `OffGraceful` asks the guest to
     * shut down and powers off hard only after `gracefulShutdownTimeout`; `Deallocated` (Azure)
     * also releases the compute so billing stops.
     * @default "On"
     */
    readonly powerState?: pulumi.Input<DesiredPowerState>;
    /**
     * How long the guest gets to shut itself down (`"90s"`, `"2m"`, `"1m30s"`, or seconds)
     * before a hard power-off.
     * @default "60s"
     */
    readonly gracefulShutdownTimeout?: pulumi.Input<Duration>;
    /**
     * Power off hard when the graceful shutdown fails or times out. With `false`, the update
     * fails instead and the VM keeps running.
     * @default true
     */
    readonly forceAfterTimeout?: pulumi.Input<boolean>;
    /**
     * What happens to the VM when this resource is destroyed: `graceful` (as `OffGraceful`),
     * `hard`, or `none`. It runs before the VM's own resource deletes the VM only when this
     * resource depends on it (`vm`, a target built from the VM's outputs, or `dependsOn`).
     * @default "graceful"
     */
    readonly shutdownOnDestroy?: pulumi.Input<ShutdownOnDestroyPolicy>;
    /** How `Deallocated` stops a running VM first. @default "graceful" */
    readonly stopBeforeDeallocate?: pulumi.Input<"graceful" | "hard">;
    /** After powering on, wait until the guest agent answers. @default false */
    readonly waitForGuestAgent?: pulumi.Input<boolean>;
}

export const vmPowerPolicyKeys: readonly (keyof VmPowerPolicyArgs)[] = powerPolicyKeys;

/** Arguments of the low-level VmPower resource. Most users want the GracefulVm component. */
export interface VmPowerArgs extends VmPowerPolicyArgs {
    /** Which driver handles the VM. */
    readonly platform: pulumi.Input<PlatformName>;
    /** The platform's non-secret target fields (see the platform's `*TargetArgs`). */
    readonly target: pulumi.Input<Record<string, pulumi.Input<unknown>>>;
    /** The platform's secret fields. Always stored as a Pulumi secret. @default none */
    readonly credentials?: pulumi.Input<Record<string, pulumi.Input<unknown>>>;
    /**
     * The id of the VM's own resource, when it is in the same program (`vm.id`). A new id means
     * a new VM: this resource is then replaced too, and when the VM is replaced delete-first,
     * the engine deletes this one (a graceful shutdown) before it deletes the VM. Pass the VM
     * in `dependsOn` as well, so that creation and deletion are ordered around it.
     * @default not tied to a resource
     */
    readonly vmResourceId?: pulumi.Input<string>;
    /**
     * Any value; when it changes and `powerState` is `On`, the VM is restarted gracefully:
     * graceful stop (hard after `gracefulShutdownTimeout` unless `forceAfterTimeout: false`),
     * power on, and the agent wait if `waitForGuestAgent`.
     * @default no restarts
     */
    readonly restartTrigger?: pulumi.Input<unknown>;
}

/**
 * The desired power state of one VM, enforced with a graceful shutdown and a hard fallback on
 * every `pulumi up` that changes it and on destroy. Its type is `graceful-vm:VmPower`.
 */
export class VmPower extends pulumi.dynamic.Resource {
    /** What the platform reported after the last operation or refresh. */
    declare public readonly observedPowerState: pulumi.Output<ObservedPowerState>;
    /** The platform's own word for it (libvirt `shutdown`/`destroyed`, Azure's status code). */
    declare public readonly observedStateDetail: pulumi.Output<string>;
    /** What the last power transition did: method, fallback reason, timings, calls. */
    declare public readonly lastTransition: pulumi.Output<TransitionReport>;
    declare public readonly powerState: pulumi.Output<DesiredPowerState>;

    constructor(name: string, args: VmPowerArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            vmPowerProvider,
            name,
            {
                ...args,
                credentials: args.credentials === undefined ? undefined : pulumi.secret(args.credentials),
                observedPowerState: undefined,
                observedStateDetail: undefined,
                lastTransition: undefined,
            },
            { ...opts, additionalSecretOutputs: ["credentials", ...(opts?.additionalSecretOutputs ?? [])] },
            "graceful-vm",
            "VmPower",
        );
    }
}
