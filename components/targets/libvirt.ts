import * as pulumi from "@pulumi/pulumi";

// STUB: the libvirt work replaces this with the documented, typed fields.
/** Names a libvirt VM. */
export interface LibvirtTargetArgs {
    readonly [field: string]: pulumi.Input<unknown>;
}
