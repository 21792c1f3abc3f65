import * as pulumi from "@pulumi/pulumi";
import { GracefulVmArgs } from "./gracefulVmArgs";

// STUB: the guest-side work renders cloud-init here.
/** The cloud-init user-data for the guest, or undefined when there is nothing to install. */
export function guestUserData(_args: GracefulVmArgs, _platform: string): pulumi.Output<string> | undefined {
    return undefined;
}
