import * as pulumi from "@pulumi/pulumi";
import { GuestLifecycleArgs, PreStopHook } from "../src/guest/types";
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
     * application services (`lifecycle.services`) get SIGTERM: `exec` (a command or a script),
     * `drain` (fail the health check, wait for the load balancer) and `httpGet` (call an
     * endpoint, e.g. to deregister). Rendered into cloud-init user-data, the `userData` output,
     * for the VM's own resource. The hooks, the services' stop timeouts and `lifecycle.margin`
     * must fit in `gracefulShutdownTimeout` (on Azure also in 5 minutes); otherwise preview
     * fails naming the numbers. See docs/guest.md.
     * @default no hooks
     */
    readonly preStop?: pulumi.Input<pulumi.Input<PreStopHook>[]>;
    /**
     * The guest side of a graceful shutdown besides the hooks: the application services the
     * hooks run before (with their `TimeoutStopSec=` and `KillMode=`), the budget margin, your
     * own `#cloud-config` to merge the hooks into, and which guest agent to install.
     * @default no services, a 10s margin, the platform's guest agent installed
     */
    readonly lifecycle?: pulumi.Input<GuestLifecycleArgs>;
}
