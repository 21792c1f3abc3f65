import * as pulumi from "@pulumi/pulumi";

// STUB: the vsphere work replaces this with the documented, typed fields.
/** Names a vsphere VM. */
export interface VsphereTargetArgs {
    readonly [field: string]: pulumi.Input<unknown>;
}
