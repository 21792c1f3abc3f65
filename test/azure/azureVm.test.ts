import * as pulumi from "@pulumi/pulumi";
import { GracefulAzureVm, parseVmId } from "../../components/azureVm";

const subscriptionId = "6f1c2b6e-0d5e-4a36-9a7c-3f1a2b3c4d5e";
const secretSig = "4dabf18193072939515e22adb298388d";

interface Recorded {
    type: string;
    name: string;
    parent: string;
    inputs: Record<string, unknown>;
}

/** setMocks where the VM gets a real ARM id, recording what each child receives and its parent. */
async function mockEngine(): Promise<Recorded[]> {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- internal SDK hook
    await (pulumi.runtime as any).waitForRPCs?.();
    await pulumi.runtime.setMocks(
        {
            newResource: (args) => {
                if (args.type === "azure-native:compute:VirtualMachine") {
                    const vmName = (args.inputs.vmName as string | undefined) ?? `${args.name}abc123`;
                    const id = `/subscriptions/${subscriptionId}/resourceGroups/${args.inputs.resourceGroupName as string}/providers/Microsoft.Compute/virtualMachines/${vmName}`;
                    return { id, state: { ...args.inputs, name: vmName } };
                }
                return { id: `${args.name}-id`, state: { ...args.inputs, observedPowerState: "running" } };
            },
            call: (args) => args.inputs,
        },
        "proj",
        "dev",
        false,
    );
    const recorded: Recorded[] = [];
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the mock monitor is untyped
    const monitor: any = pulumi.runtime.getMonitor();
    const original = monitor.registerResource.bind(monitor);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    monitor.registerResource = (request: any, callback: any) => {
        recorded.push({
            type: request.getType(),
            name: request.getName(),
            parent: request.getParent(),
            inputs: request.getObject()?.toJavaScript() ?? {},
        });
        return original(request, callback);
    };
    return recorded;
}

async function settle(vm: GracefulAzureVm): Promise<void> {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- resolves like the engine would
    await (vm.observedPowerState as any).promise(true);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    await (pulumi.runtime as any).waitForRPCs();
}

const vmArgs = {
    resourceGroupName: "rg-graceful",
    vmName: "web-1",
    location: "westeurope",
    hardwareProfile: { vmSize: "Standard_B2s" },
    osProfile: { computerName: "web-1", adminUsername: "azureuser", linuxConfiguration: { disablePasswordAuthentication: true } },
};

describe("GracefulAzureVm", () => {
    test("the VM gets the rendered cloud-init as base64 customData; the power child targets the VM by its id", async () => {
        const recorded = await mockEngine();
        const vm = new GracefulAzureVm("web", {
            vm: vmArgs,
            azure: {
                tenantId: "contoso.onmicrosoft.com",
                clientId: "0d5a1f3e-8c2b-4e7a-9f10-aa11bb22cc33",
                clientSecret: pulumi.secret("Sx8Q~component-secret"),
            },
            powerState: "OffGraceful",
            gracefulShutdownTimeout: "2m",
            preStop: [{ name: "flush", exec: { command: ["/usr/local/bin/app", "flush"] }, timeout: "20s" }],
        });
        await settle(vm);

        expect(recorded.filter((r) => r.type === "graceful-vm:index:GracefulAzureVm")).toHaveLength(1);
        const azureVm = recorded.find((r) => r.type === "azure-native:compute:VirtualMachine")!;
        const graceful = recorded.find((r) => r.type === "graceful-vm:index:GracefulVm")!;
        const power = recorded.find((r) => r.type === "pulumi-nodejs:dynamic/graceful-vm:VmPower")!;
        const componentUrn = await new Promise<string>((resolve) => vm.urn.apply(resolve));
        expect(azureVm.parent).toBe(componentUrn);
        expect(graceful.parent).toBe(componentUrn);
        expect(power.name).toBe("web-graceful-power");

        const osProfile = azureVm.inputs.osProfile as Record<string, unknown>;
        expect(osProfile).toMatchObject({ computerName: "web-1", adminUsername: "azureuser" });
        const cloudInit = Buffer.from(osProfile.customData as string, "base64").toString("utf8");
        expect(cloudInit.startsWith("#cloud-config")).toBe(true);
        expect(cloudInit).toContain("/usr/local/bin/app");
        expect(azureVm.inputs).toMatchObject({
            resourceGroupName: "rg-graceful",
            vmName: "web-1",
            hardwareProfile: { vmSize: "Standard_B2s" },
        });

        expect(power.inputs).toMatchObject({
            platform: "azure",
            target: { subscriptionId, resourceGroupName: "rg-graceful", vmName: "web-1", tenantId: "contoso.onmicrosoft.com" },
            powerState: "OffGraceful",
            gracefulShutdownTimeout: "2m",
        });
        expect(JSON.stringify(power.inputs.target)).not.toContain("component-secret");
        expect((power.inputs.credentials as Record<string, unknown>)[secretSig]).toBeDefined();
    });

    test("without hooks the VM's osProfile is passed through untouched", async () => {
        const recorded = await mockEngine();
        const vm = new GracefulAzureVm("db", {
            vm: { ...vmArgs, vmName: "db-1", osProfile: { ...vmArgs.osProfile, customData: "I2Nsb3VkLWNvbmZpZw==" } },
        });
        await settle(vm);
        const azureVm = recorded.find((r) => r.type === "azure-native:compute:VirtualMachine")!;
        expect((azureVm.inputs.osProfile as Record<string, unknown>).customData).toBe("I2Nsb3VkLWNvbmZpZw==");
        const power = recorded.find((r) => r.type === "pulumi-nodejs:dynamic/graceful-vm:VmPower")!;
        expect(power.inputs.target).toMatchObject({ vmName: "db-1", resourceGroupName: "rg-graceful" });
    });

    test("customData of your own alongside preStop hooks is refused, pointing at lifecycle.userData", async () => {
        const recorded = await mockEngine();
        const construct = (): GracefulAzureVm =>
            new GracefulAzureVm("bad", {
                vm: { ...vmArgs, osProfile: { ...vmArgs.osProfile, customData: "I2Nsb3VkLWNvbmZpZw==" } },
                preStop: [{ name: "flush", exec: { command: ["/bin/true"] } }],
            });
        expect(construct).toThrow(
            /vm\.osProfile\.customData: is set from preStop and lifecycle; put your own #cloud-config in lifecycle\.userData/,
        );
        expect(recorded.filter((r) => r.type === "azure-native:compute:VirtualMachine")).toEqual([]);
    });

    test("parseVmId reads subscription, group and name from an ARM id", () => {
        expect(parseVmId(`/subscriptions/${subscriptionId}/resourceGroups/RG-1/providers/Microsoft.Compute/virtualMachines/vm_1`)).toEqual({
            subscriptionId,
            resourceGroupName: "RG-1",
            vmName: "vm_1",
        });
        expect(() => parseVmId("/subscriptions/x/resourceGroups/y/providers/Microsoft.Network/networkInterfaces/z")).toThrow(
            /not a Microsoft\.Compute\/virtualMachines resource id/,
        );
    });
});
