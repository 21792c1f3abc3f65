import * as pulumi from "@pulumi/pulumi";
import { GracefulAzureVm, azureConnectionFromAzureNative, parseVmId } from "../../components/azureVm";

const subscriptionId = "6f1c2b6e-0d5e-4a36-9a7c-3f1a2b3c4d5e";
const secretSig = "4dabf18193072939515e22adb298388d";

interface Recorded {
    type: string;
    name: string;
    parent: string;
    inputs: Record<string, unknown>;
    dependencies: string[];
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
            dependencies: request.getDependenciesList(),
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
        // Tied to the VM: ordered around it and replaced with it (docs/pulumi-up.md).
        expect(power.inputs.vmResourceId).toMatch(/\/virtualMachines\/web-1$/);
        expect(power.dependencies).toContain(await new Promise<string>((resolve) => vm.vm.urn.apply(resolve)));
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

describe("GracefulAzureVm signs in as the stack's azure-native provider", () => {
    afterEach(() => pulumi.runtime.setAllConfig({}, []));

    test("azure-native:* stack config (client secret, sovereign cloud) reaches the power child, the secret as a secret", async () => {
        const recorded = await mockEngine();
        pulumi.runtime.setAllConfig(
            {
                "azure-native:clientId": "0d5a1f3e-8c2b-4e7a-9f10-aa11bb22cc33",
                "azure-native:tenantId": "contoso.onmicrosoft.com",
                "azure-native:clientSecret": "Sx8Q~stack-config-secret",
                "azure-native:environment": "usgovernment",
            },
            ["azure-native:clientSecret"],
        );
        const vm = new GracefulAzureVm("cfg", { vm: { ...vmArgs, vmName: "cfg-1" } });
        await settle(vm);
        const power = recorded.find((r) => r.type === "pulumi-nodejs:dynamic/graceful-vm:VmPower")!;
        expect(power.inputs.target).toMatchObject({
            clientId: "0d5a1f3e-8c2b-4e7a-9f10-aa11bb22cc33",
            tenantId: "contoso.onmicrosoft.com",
            credential: "clientSecret",
            resourceManagerEndpoint: "https://management.usgovcloudapi.net",
            authorityHost: "https://login.microsoftonline.us",
        });
        expect(JSON.stringify(power.inputs.target)).not.toContain("stack-config-secret");
        expect((power.inputs.credentials as Record<string, unknown>)[secretSig]).toBeDefined();
    });

    test("azure-native:useOidc selects the oidc source with the configured token file", async () => {
        const recorded = await mockEngine();
        pulumi.runtime.setAllConfig(
            {
                "azure-native:clientId": "0d5a1f3e-8c2b-4e7a-9f10-aa11bb22cc33",
                "azure-native:tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
                "azure-native:useOidc": "true",
                "azure-native:oidcTokenFilePath": "/var/run/secrets/oidc/token",
            },
            [],
        );
        const vm = new GracefulAzureVm("oidc", { vm: { ...vmArgs, vmName: "oidc-1" } });
        await settle(vm);
        const power = recorded.find((r) => r.type === "pulumi-nodejs:dynamic/graceful-vm:VmPower")!;
        expect(power.inputs.target).toMatchObject({ credential: "oidc", oidcTokenFilePath: "/var/run/secrets/oidc/token" });
    });

    test("explicit azure args win over the stack config", async () => {
        const recorded = await mockEngine();
        pulumi.runtime.setAllConfig({ "azure-native:clientId": "0d5a1f3e-8c2b-4e7a-9f10-aa11bb22cc33", "azure-native:useMsi": "true" }, []);
        const vm = new GracefulAzureVm("explicit", { vm: { ...vmArgs, vmName: "explicit-1" }, azure: { credential: "azureCli" } });
        await settle(vm);
        const power = recorded.find((r) => r.type === "pulumi-nodejs:dynamic/graceful-vm:VmPower")!;
        expect(power.inputs.target).toMatchObject({ credential: "azureCli" });
        expect((power.inputs.target as Record<string, unknown>).clientId).toBeUndefined();
    });

    test("with an explicit azure-native provider the stack config is not assumed to be its settings; its args can be passed", async () => {
        const recorded = await mockEngine();
        pulumi.runtime.setAllConfig({ "azure-native:clientId": "0d5a1f3e-8c2b-4e7a-9f10-aa11bb22cc33", "azure-native:useMsi": "true" }, []);
        const azureNative = require("@pulumi/azure-native") as typeof import("@pulumi/azure-native");
        const providerArgs = {
            tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47",
            clientId: "11111111-2222-3333-4444-555555555555",
            useOidc: true,
        };
        const provider = new azureNative.Provider("explicit", providerArgs);
        const unlinked = new GracefulAzureVm("unlinked", { vm: { ...vmArgs, vmName: "unlinked-1" } }, { providers: [provider] });
        const linked = new GracefulAzureVm(
            "linked",
            { vm: { ...vmArgs, vmName: "linked-1" }, azure: azureConnectionFromAzureNative(providerArgs) },
            { providers: [provider] },
        );
        await settle(unlinked);
        await settle(linked);
        const powers = recorded.filter((r) => r.type === "pulumi-nodejs:dynamic/graceful-vm:VmPower");
        const unlinkedPower = powers.find((r) => r.name === "unlinked-graceful-power")!;
        const linkedPower = powers.find((r) => r.name === "linked-graceful-power")!;
        expect((unlinkedPower.inputs.target as Record<string, unknown>).credential).toBeUndefined();
        expect(linkedPower.inputs.target).toMatchObject({ credential: "oidc", clientId: "11111111-2222-3333-4444-555555555555" });
    });

    test("no azure-native config and no args: the default chain decides (no credential field)", async () => {
        const recorded = await mockEngine();
        const vm = new GracefulAzureVm("chain", { vm: { ...vmArgs, vmName: "chain-1" } });
        await settle(vm);
        const power = recorded.find((r) => r.type === "pulumi-nodejs:dynamic/graceful-vm:VmPower")!;
        expect((power.inputs.target as Record<string, unknown>).credential).toBeUndefined();
    });
});
