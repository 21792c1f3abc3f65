import * as pulumi from "@pulumi/pulumi";
// Types only: the runtime module is required inside the constructor, so programs that never
// create an Azure VM never load @pulumi/azure-native (an optional peer dependency).
import type { VirtualMachine, VirtualMachineArgs } from "@pulumi/azure-native/compute";
import { InputError } from "../src/power/errors";
import { GracefulVm } from "./gracefulVm";
import { requireOptionalPeer } from "./optionalPeer";
import { GracefulVmArgs } from "./gracefulVmArgs";
import { azureConnectionFromAzureNative, azureNativeStackSettings } from "./azureNativeSettings";
import { AzureTargetArgs } from "./targets/azure";
import { guestUserData } from "./userData";

/** How the power resource reaches ARM; the VM's own identity comes from the VM it creates. */
export type AzureConnectionArgs = Omit<AzureTargetArgs, "subscriptionId" | "resourceGroupName" | "vmName">;

/** Arguments of {@link GracefulAzureVm}. */
export interface GracefulAzureVmArgs extends Omit<GracefulVmArgs, "target" | "vm"> {
    /**
     * The VM, exactly as for `@pulumi/azure-native`'s `compute.VirtualMachine`. When there are
     * `preStop` hooks or `lifecycle` settings, `osProfile.customData` is set to their rendered
     * cloud-init (base64), so leave it unset and put your own cloud-config in `lifecycle.userData`.
     */
    readonly vm: VirtualMachineArgs;
    /**
     * Credentials and endpoints for the power operations (the VM's subscription, resource group
     * and name are read from the created VM's id). With an explicit azure-native provider, pass
     * its arguments through `azureConnectionFromAzureNative(providerArgs)`.
     * @default the stack's `azure-native:*` sign-in settings when it has some, otherwise the
     * default credential chain (which reads `AZURE_*` and `ARM_*` variables) against the public cloud
     */
    readonly azure?: AzureConnectionArgs;
}

/**
 * An Azure VM created with `@pulumi/azure-native`, with a declarative, graceful power state:
 * the VM resource gets the guest's preStop hooks as cloud-init `customData`, and a
 * {@link GracefulVm} child targets it by the VM's id. On destroy, the power resource shuts the
 * VM down gracefully before the VM resource deletes it (it depends on the VM).
 */
export { azureConnectionFromAzureNative, AzureNativeSignInSettings } from "./azureNativeSettings";

export class GracefulAzureVm extends pulumi.ComponentResource {
    /** The `azure-native:compute:VirtualMachine` child. */
    public readonly vm: VirtualMachine;
    /** The power-state child. */
    public readonly graceful: GracefulVm;
    /** The power state Azure reported after the last `up` or `refresh`. */
    public readonly observedPowerState: GracefulVm["observedPowerState"];
    /** What the last power change did. */
    public readonly lastTransition: GracefulVm["lastTransition"];

    constructor(name: string, args: GracefulAzureVmArgs, opts?: pulumi.ComponentResourceOptions) {
        // Before super(): a missing optional peer must stop the program before anything registers.
        const compute = requireOptionalPeer<typeof import("@pulumi/azure-native/compute")>(
            "@pulumi/azure-native/compute",
            "@pulumi/azure-native",
            "GracefulAzureVm",
        );
        super("graceful-vm:index:GracefulAzureVm", name, {}, opts);
        const { vm: vmArgs, azure, ...power } = args;

        const userData = guestUserData({ ...power, target: {} }, "azure");
        if (userData && hasOwnCustomData(vmArgs.osProfile)) throw customDataConflict();
        this.vm = new compute.VirtualMachine(
            name,
            { ...vmArgs, ...(userData ? { osProfile: withCustomData(vmArgs.osProfile, userData) } : {}) },
            { parent: this },
        );

        const identity = this.vm.id.apply(parseVmId);
        const connection = azure ?? connectionFromAzureNative(this, opts);
        this.graceful = new GracefulVm(
            `${name}-graceful`,
            {
                ...power,
                // Ties the power resource to the VM: ordered around it, replaced with it.
                vm: this.vm,
                target: {
                    azure: {
                        ...connection,
                        subscriptionId: identity.subscriptionId,
                        resourceGroupName: identity.resourceGroupName,
                        vmName: identity.vmName,
                    },
                },
            },
            { parent: this },
        );
        this.observedPowerState = this.graceful.observedPowerState;
        this.lastTransition = this.graceful.lastTransition;
        this.registerOutputs({ observedPowerState: this.observedPowerState, lastTransition: this.lastTransition });
    }
}

/**
 * Without `azure`, sign in as the stack's azure-native default provider does. An explicit
 * provider's settings cannot be read back from the provider object, so that case is a warning
 * that says what to pass.
 */
function connectionFromAzureNative(component: pulumi.Resource, opts: pulumi.ComponentResourceOptions | undefined): AzureConnectionArgs {
    const explicit = [opts?.provider, ...Object.values(opts?.providers ?? {})].some(
        (p) => p !== undefined && (p as { getPackage?: () => string }).getPackage?.() === "azure-native",
    );
    if (explicit) {
        void pulumi.log.warn(
            "an explicit azure-native provider is used for the VM; its sign-in settings cannot be read from it, so the power operations use the default chain. Pass `azure: azureConnectionFromAzureNative(<the provider's args>)` to sign in the same way.",
            component,
        );
    }
    const settings = azureNativeStackSettings();
    return settings && !explicit ? azureConnectionFromAzureNative(settings) : {};
}

type OsProfileInput = VirtualMachineArgs["osProfile"];

/** The user's osProfile with `customData` = base64 of the rendered cloud-init. */
function withCustomData(osProfile: OsProfileInput, userData: pulumi.Output<string>): OsProfileInput {
    const merged = pulumi.all([pulumi.output(osProfile), userData]).apply(([profile, rendered]) => {
        // Known only now when osProfile was itself an Output.
        if (hasOwnCustomData(profile)) throw customDataConflict();
        return { ...(profile ?? {}), customData: Buffer.from(rendered, "utf8").toString("base64") };
    });
    return merged as OsProfileInput;
}

/** A plain osProfile that already carries customData (an Output is checked once it resolves). */
function hasOwnCustomData(osProfile: unknown): boolean {
    if (!osProfile || typeof osProfile !== "object" || pulumi.Output.isInstance(osProfile) || osProfile instanceof Promise) return false;
    const customData = (osProfile as { customData?: unknown }).customData;
    return customData !== undefined && customData !== null;
}

function customDataConflict(): InputError {
    return new InputError(
        "vm.osProfile.customData",
        "is set from preStop and lifecycle; put your own #cloud-config in lifecycle.userData and it is merged",
    );
}

/** `/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.Compute/virtualMachines/{n}`. */
export function parseVmId(id: string): { subscriptionId: string; resourceGroupName: string; vmName: string } {
    const match = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.Compute\/virtualMachines\/([^/]+)$/i.exec(id);
    if (!match) throw new InputError("vm", `the VM's id ${JSON.stringify(id)} is not a Microsoft.Compute/virtualMachines resource id`);
    return { subscriptionId: match[1], resourceGroupName: decodeURIComponent(match[2]), vmName: decodeURIComponent(match[3]) };
}
