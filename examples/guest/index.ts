import * as pulumi from "@pulumi/pulumi";
import { GracefulVm } from "pulumi-graceful-vm";
import { combinedExample } from "./hooks";

// A libvirt VM created elsewhere (e.g. by the pulumi-libvirt provider) whose guest drains,
// deregisters and flushes before its services stop. Pass `userData` to the VM's own resource
// (for libvirt: a cloud-init disk), or see the Azure and Proxmox helpers, which inject it.
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
