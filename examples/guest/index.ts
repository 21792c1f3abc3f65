import * as pulumi from "@pulumi/pulumi";
import { GracefulVm } from "pulumi-graceful-vm";
import { combinedExample } from "./hooks";

// A libvirt VM created elsewhere (e.g. by the pulumi-libvirt provider) whose guest drains,
// deregisters and flushes before its services stop. Pass `userData` to the VM's own resource
// (for libvirt: a cloud-init disk), or see the Azure and Proxmox helpers, which inject it.
// When that resource is in this program, pass it as `vm` (and name the domain by its output) so
// the power resource comes after it and shuts the guest down before it is deleted
// (docs/pulumi-up.md).
const config = new pulumi.Config();

const vm = new GracefulVm("web", {
    target: { libvirt: { uri: config.get("libvirtUri") ?? "qemu:///system", domain: config.get("domain") ?? "web-1" } },
    powerState: config.get("powerState") === "OffGraceful" ? "OffGraceful" : "On",
    gracefulShutdownTimeout: combinedExample.gracefulShutdownTimeout,
    preStop: combinedExample.preStop,
    lifecycle: combinedExample.lifecycle,
});

export const userData = vm.userData;
export const observedPowerState = vm.observedPowerState;
