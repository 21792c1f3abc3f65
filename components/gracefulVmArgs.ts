import * as pulumi from "@pulumi/pulumi";
import { GuestLifecycleArgs, PreStopHook } from "../src/guest/types";
import { VmPowerPolicyArgs } from "../src/providers/vmPower";
import { GracefulVmTarget } from "./targets";

/** Arguments of {@link GracefulVm}: the power policy, the target VM and the guest hooks. */
export interface GracefulVmArgs extends VmPowerPolicyArgs {
    /** The VM whose power this manages: exactly one of `libvirt`, `vsphere`, `proxmox`, `azure`, `custom`. */
    readonly target: GracefulVmTarget;
    /**
     * The VM's own resource, when it is in the same program. The power resource then depends on
     * it: created after it, deleted (shut down) before it, replaced with it, and shut down
     * gracefully before it when the VM is replaced delete-first. Without it, order the two
     * yourself: build `target` from the VM's outputs, or pass the VM in `dependsOn`.
     * @default no VM resource (a literal target is not linked to any resource)
     */
    readonly vm?: pulumi.CustomResource;
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
    /**
     * Any value (a version, a config hash); when it changes and `powerState` is `On`, the VM is
     * restarted gracefully: graceful stop with the hard fallback, power on, agent wait if
     * `waitForGuestAgent`. `powerState` stays declarative.
     * @default no restarts
     */
    readonly restartTrigger?: pulumi.Input<unknown>;
}
