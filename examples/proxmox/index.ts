import * as proxmoxve from "@muhlba91/pulumi-proxmoxve";
import * as pulumi from "@pulumi/pulumi";
import { GracefulVm, proxmoxTargetFromVm } from "pulumi-graceful-vm";

// A VM cloned from a cloud-init template on Proxmox VE, whose power state is part of the program:
//   pulumi config set powerState OffGraceful   # guest agent (or ACPI) shutdown, hard stop after 90 s
//   pulumi config set powerState Off           # hard stop
//   pulumi config set powerState On
// Both the proxmoxve provider and this package use the same API token:
//   pulumi config set proxmoxve:endpoint https://pve1.example.com:8006
//   pulumi config set --secret proxmoxve:apiToken 'automation@pve!pulumi=<uuid>'
//   pulumi config set pveFingerprint AA:BB:...   # the node certificate's SHA-256 fingerprint
const config = new pulumi.Config();
const pve = new pulumi.Config("proxmoxve");
const powerState = config.get("powerState") ?? "On";
if (!["On", "Off", "OffGraceful"].includes(powerState)) {
    throw new Error(`powerState must be On, Off or OffGraceful on Proxmox; got ${powerState}`);
}

const vm = new proxmoxve.VmLegacy(
    "web-1",
    {
        nodeName: config.get("node") ?? "pve1",
        name: "web-1",
        clone: { vmId: config.getNumber("templateVmId") ?? 9000, full: true },
        agent: { enabled: true },
        cpu: { cores: 2 },
        memory: { dedicated: 2048 },
        // GracefulVm owns the power state from here on; without this, `pulumi up --refresh`
        // would see `started` drift and start the VM again.
        started: true,
    },
    { ignoreChanges: ["started"] },
);

const web = new GracefulVm("web-1", {
    // After the VM, before its deletion, and replaced with it: a VM replaced delete-first (a new
    // vmId) is shut down gracefully before proxmoxve deletes it. See docs/pulumi-up.md.
    vm,
    target: {
        proxmox: proxmoxTargetFromVm(vm, {
            endpoint: pve.require("endpoint"),
            apiToken: pve.requireSecret("apiToken"),
            fingerprint: config.get("pveFingerprint"),
        }),
    },
    powerState: powerState as "On" | "Off" | "OffGraceful",
    gracefulShutdownTimeout: "90s",
    // Destroying the stack shuts the guest down cleanly before proxmoxve deletes the VM.
    shutdownOnDestroy: "graceful",
});

export const vmId = vm.vmId;
export const observedPowerState = web.observedPowerState;
export const lastTransition = web.lastTransition.apply(
    (r) => `${r.method}${r.fallbackReason ? ` (${r.fallbackReason})` : ""} in ${r.durationMs} ms`,
);
