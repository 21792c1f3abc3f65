import * as pulumi from "@pulumi/pulumi";
import { PreStopHook } from "../src/guest/types";
import { Duration } from "../src/power/duration";
import { DesiredPowerState, ShutdownOnDestroyPolicy } from "../src/power/states";
import { GracefulVmTarget } from "./targets";

/** Arguments of {@link GracefulVm}. */
export interface GracefulVmArgs {
    /** The VM whose power this manages: exactly one of `libvirt`, `vsphere`, `proxmox`, `azure`, `custom`. */
    readonly target: GracefulVmTarget;
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
     * What happens to the VM when this component is destroyed, before the VM's own resource
     * deletes it: `graceful` (as `OffGraceful`), `hard`, or `none`.
     * @default "graceful"
     */
    readonly shutdownOnDestroy?: pulumi.Input<ShutdownOnDestroyPolicy>;
    /** How `Deallocated` stops a running VM first. @default "graceful" */
    readonly stopBeforeDeallocate?: pulumi.Input<"graceful" | "hard">;
    /** After powering on, wait until the guest agent answers. @default false */
    readonly waitForGuestAgent?: pulumi.Input<boolean>;
    /**
     * Steps the guest runs, in order, when it is asked to shut down and before its
     * application services get SIGTERM (drain, deregister, flush). Rendered into cloud-init
     * user-data (the `userData` output).
     * @default no hooks
     */
    readonly preStop?: pulumi.Input<pulumi.Input<PreStopHook>[]>;
}
