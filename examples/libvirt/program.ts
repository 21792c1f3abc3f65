import * as pulumi from "@pulumi/pulumi";
import { DesiredPowerState, GracefulVm, ShutdownOnDestroyPolicy } from "pulumi-graceful-vm";

/**
 * The local default: one libvirt domain on this host whose power state is stack config.
 *
 *   pulumi config set graceful-vm:domain web-1
 *   pulumi config set graceful-vm:powerState OffGraceful    # ACPI/agent shutdown, hard only after the timeout
 *   pulumi up
 */
export function localVm(config = new pulumi.Config("graceful-vm"), vm?: pulumi.CustomResource): GracefulVm {
    return new GracefulVm(config.get("name") ?? "local", {
        // The domain exists outside this program here. When a resource in the same program
        // creates it, pass that resource: the power resource is then created after it, shuts the
        // guest down before it is deleted, and is replaced with it (docs/pulumi-up.md).
        vm,
        target: {
            libvirt: {
                uri: config.get("uri") ?? "qemu:///system",
                domain: config.require("domain"),
                shutdownMode: config.get("shutdownMode", { allowedValues: ["auto", "acpi", "agent"] as const }) ?? "auto",
            },
        },
        powerState: config.get<DesiredPowerState>("powerState", { allowedValues: ["On", "Off", "OffGraceful"] }) ?? "On",
        gracefulShutdownTimeout: config.get("gracefulShutdownTimeout") ?? "60s",
        forceAfterTimeout: config.getBoolean("forceAfterTimeout") ?? true,
        shutdownOnDestroy:
            config.get<ShutdownOnDestroyPolicy>("shutdownOnDestroy", { allowedValues: ["graceful", "hard", "none"] }) ?? "graceful",
    });
}
