import { AzureTargetArgs } from "./azure";
import { CustomTargetArgs } from "./custom";
import { LibvirtTargetArgs } from "./libvirt";
import { ProxmoxTargetArgs } from "./proxmox";
import { VsphereTargetArgs } from "./vsphere";
import * as pulumi from "@pulumi/pulumi";

/** The VM whose power is managed: exactly one platform key. */
export interface GracefulVmTarget {
    /** A libvirt domain (KVM/QEMU). */
    readonly libvirt?: pulumi.Input<LibvirtTargetArgs>;
    /** A vSphere VM, on vCenter or standalone ESXi. */
    readonly vsphere?: pulumi.Input<VsphereTargetArgs>;
    /** A Proxmox VE QEMU VM. */
    readonly proxmox?: pulumi.Input<ProxmoxTargetArgs>;
    /** An Azure VM. */
    readonly azure?: pulumi.Input<AzureTargetArgs>;
    /** A VM handled by a driver module of your own. */
    readonly custom?: pulumi.Input<CustomTargetArgs>;
}

export type { AzureTargetArgs, CustomTargetArgs, LibvirtTargetArgs, ProxmoxTargetArgs, VsphereTargetArgs };
export { proxmoxTargetFromVm } from "./proxmox";
export { vsphereTargetFromVm } from "./vsphere";
export type { VsphereConnectionArgs, VsphereVirtualMachineLike } from "./vsphere";
export { libvirtTargetFromDomain } from "./libvirt";
export type { LibvirtConnectionArgs, LibvirtDomainLike } from "./libvirt";
export type { ProxmoxConnectionArgs, ProxmoxVeLegacyVmLike, ProxmoxVeVmLike } from "./proxmox";
