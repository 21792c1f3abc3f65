import * as pulumi from "@pulumi/pulumi";

/** A VM handled by a driver module of your own (see README, "Bring your own driver"). */
export interface CustomTargetArgs {
    /** Package name or absolute path of a module exporting `createDriver(options, secrets, context)`. */
    readonly module: pulumi.Input<string>;
    /** Passed to `createDriver` as is; stored in plaintext state. @default {} */
    readonly options?: pulumi.Input<Record<string, unknown>>;
    /** Passed to `createDriver`; stored as a secret. @default {} */
    readonly secrets?: pulumi.Input<Record<string, pulumi.Input<string>>>;
    /** Shown in reports. @default the module name */
    readonly name?: pulumi.Input<string>;
}
