import * as azure from "@pulumi/azure-native";
import * as pulumi from "@pulumi/pulumi";
import { GracefulAzureVm } from "pulumi-graceful-vm/azure";

// A Linux VM on Azure whose power state is part of the program:
//   pulumi config set powerState OffGraceful   # guest drains, then Azure powers it off
//   pulumi config set powerState Deallocated   # ... and releases the compute: billing stops
//   pulumi config set powerState On
// The guest's preStop hooks reach the VM as cloud-init customData; the power operations use the
// same credentials as azure-native when they come from the environment or `az login`.
const config = new pulumi.Config();
const location = config.get("location") ?? "westeurope";
const powerState = config.get("powerState") ?? "On";
if (!["On", "Off", "OffGraceful", "Deallocated"].includes(powerState)) {
    throw new Error(`powerState must be On, Off, OffGraceful or Deallocated; got ${powerState}`);
}

const group = new azure.resources.ResourceGroup("graceful-vm", { location });
const network = new azure.network.VirtualNetwork("graceful-vm", {
    resourceGroupName: group.name,
    location,
    addressSpace: { addressPrefixes: ["10.20.0.0/16"] },
    subnets: [{ name: "default", addressPrefix: "10.20.1.0/24" }],
});
const nic = new azure.network.NetworkInterface("web-1", {
    resourceGroupName: group.name,
    location,
    ipConfigurations: [
        { name: "primary", subnet: { id: network.subnets.apply((s) => s?.[0]?.id ?? "") }, privateIPAllocationMethod: "Dynamic" },
    ],
});

// GracefulAzureVm creates the VM and ties its power resource to it (after the VM, deleted and
// replaced before it; see docs/pulumi-up.md).
const web = new GracefulAzureVm("web-1", {
    vm: {
        resourceGroupName: group.name,
        location,
        vmName: "web-1",
        hardwareProfile: { vmSize: "Standard_B2s" },
        osProfile: {
            computerName: "web-1",
            adminUsername: "azureuser",
            linuxConfiguration: {
                disablePasswordAuthentication: true,
                ssh: { publicKeys: [{ path: "/home/azureuser/.ssh/authorized_keys", keyData: config.require("sshPublicKey") }] },
            },
        },
        storageProfile: {
            imageReference: { publisher: "Canonical", offer: "ubuntu-24_04-lts", sku: "server", version: "latest" },
            osDisk: { createOption: "FromImage", managedDisk: { storageAccountType: "Standard_LRS" } },
        },
        networkProfile: { networkInterfaces: [{ id: nic.id, primary: true }] },
    },
    // Absent: environment variables, then managed identity, then `az login`. For a service
    // principal held as a secret instead:
    //   azure: { tenantId, clientId, clientSecret: config.requireSecret("clientSecret") },
    powerState: powerState as "On" | "Off" | "OffGraceful" | "Deallocated",
    // Azure forces the VM off about 5 minutes after a graceful powerOff: stay below that.
    gracefulShutdownTimeout: "2m",
    preStop: [
        { name: "drain", drain: { createFile: "/run/app/draining", seconds: "20s" } },
        { name: "flush", exec: { command: ["/usr/bin/sync"] }, timeout: "10s" },
    ],
});

export const vmId = web.vm.id;
export const observedPowerState = web.observedPowerState;
export const lastTransition = web.lastTransition;
