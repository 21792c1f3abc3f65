import * as pulumi from "@pulumi/pulumi";

// STUB: the proxmox work replaces this with the documented, typed fields.
/** Names a proxmox VM. */
export interface ProxmoxTargetArgs {
    readonly [field: string]: pulumi.Input<unknown>;
}
