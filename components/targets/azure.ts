import * as pulumi from "@pulumi/pulumi";

// STUB: the azure work replaces this with the documented, typed fields.
/** Names a azure VM. */
export interface AzureTargetArgs {
    readonly [field: string]: pulumi.Input<unknown>;
}
