import * as pulumi from "@pulumi/pulumi";
import { GracefulVm } from "../../components/gracefulVm";
import { libvirtTargetFromDomain, vsphereTargetFromVm } from "../../components/targets";
import { recordRegistrations, secretSig, valueOf } from "./mocks";

/**
 * The helpers for the design card's providers, typed by shape: a custom resource registered
 * under @pulumi/vsphere's and @pulumi/libvirt's type tokens stands in for those packages, which
 * are not installed. What matters: the target reads the VM's outputs, so the power child depends
 * on the VM resource.
 */
class FakeVsphereVm extends pulumi.CustomResource {
    declare public readonly moid: pulumi.Output<string>;
    declare public readonly uuid: pulumi.Output<string>;
    constructor(name: string) {
        super("vsphere:index/virtualMachine:VirtualMachine", name, { moid: undefined, uuid: undefined });
    }
}

class FakeLibvirtDomain extends pulumi.CustomResource {
    declare public readonly name: pulumi.Output<string>;
    constructor(name: string, domainName: string) {
        super("libvirt:index/domain:Domain", name, { name: domainName });
    }
}

async function settled(graceful: GracefulVm): Promise<void> {
    await valueOf(graceful.observedPowerState);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- internal SDK hook
    await (pulumi.runtime as any).waitForRPCs();
}

/** The power child's registration, with the URNs its `target` input depends on. */
async function powerRegistration(name: string): Promise<{ inputs: Record<string, unknown>; targetDeps: string[] }> {
    const found = registered.find((r) => r.name === name);
    if (!found) throw new Error(`${name} was not registered`);
    return found;
}

let registered: Array<{ name: string; inputs: Record<string, unknown>; targetDeps: string[] }> = [];

async function record(): Promise<void> {
    await recordRegistrations();
    registered = [];
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the mock monitor is untyped
    const monitor: any = pulumi.runtime.getMonitor();
    const original = monitor.registerResource.bind(monitor);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    monitor.registerResource = (request: any, callback: any) => {
        const deps = request.getPropertydependenciesMap().get("target");
        registered.push({
            name: request.getName(),
            inputs: request.getObject()?.toJavaScript() ?? {},
            targetDeps: deps ? deps.getUrnsList() : [],
        });
        return original(request, callback);
    };
}

describe("vsphereTargetFromVm", () => {
    test("targets a @pulumi/vsphere VirtualMachine by its moid; the power child depends on the VM; the password stays secret", async () => {
        await record();
        const vm = new FakeVsphereVm("web");
        const graceful = new GracefulVm("web", {
            target: {
                vsphere: vsphereTargetFromVm(vm, {
                    url: "https://vcenter.example.com/sdk",
                    username: "svc-power@vsphere.local",
                    password: pulumi.secret("vsphere-Pw-9x"),
                }),
            },
            powerState: "OffGraceful",
        });
        await settled(graceful);
        const power = await powerRegistration("web-power");
        expect(power.inputs.target).toMatchObject({ url: "https://vcenter.example.com/sdk", vm: "moid:web-moid" });
        expect(power.targetDeps).toContain(await valueOf(vm.urn));
        expect(JSON.stringify(power.inputs.target)).not.toContain("vsphere-Pw-9x");
        expect((power.inputs.credentials as Record<string, unknown>)[secretSig]).toBeDefined();
    });

    test("falls back to the BIOS uuid for a shape without moid", async () => {
        await record();
        const vm = new FakeVsphereVm("db");
        const graceful = new GracefulVm("db", {
            target: { vsphere: vsphereTargetFromVm({ uuid: vm.uuid }, { url: "https://esx-1", username: "root", password: "x" }) },
        });
        await settled(graceful);
        const power = await powerRegistration("db-power");
        expect(power.inputs.target).toMatchObject({ vm: "uuid:4211cb7c-1f0e-4e2a-9a5b-0123456789ab" });
    });
});

describe("libvirtTargetFromDomain", () => {
    test("targets a @pulumi/libvirt Domain by its name output; the power child depends on the domain", async () => {
        await record();
        const domain = new FakeLibvirtDomain("web", "web-1");
        const graceful = new GracefulVm("web", {
            target: { libvirt: libvirtTargetFromDomain(domain, { uri: "qemu+ssh://admin@kvm-1/system" }) },
        });
        await settled(graceful);
        const power = await powerRegistration("web-power");
        expect(power.inputs.target).toMatchObject({ uri: "qemu+ssh://admin@kvm-1/system", domain: "web-1" });
        expect(power.targetDeps).toContain(await valueOf(domain.urn));
    });
});
