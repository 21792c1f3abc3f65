import * as pulumi from "@pulumi/pulumi";
import { GracefulVm } from "../../components/gracefulVm";
import { InputError, InputErrors } from "../../src/power/errors";
import { recordRegistrations, secretSig, valueOf } from "./mocks";

/** Another provider's VM resource, as the program would create it. */
class Machine extends pulumi.CustomResource {
    constructor(name: string) {
        super("test:index:Vm", name, { vmName: "web-1" });
    }
}

const customTarget = { module: "/opt/drivers/fake.js", options: { vm: "web-1" }, secrets: { token: pulumi.secret("tok-Sup3rS3cret") } };

describe("GracefulVm", () => {
    test("creates one VmPower child, parented to the component, with the inputs it was given", async () => {
        const { registrations, resources } = await recordRegistrations();
        const vm = new GracefulVm("web", {
            target: { custom: customTarget },
            powerState: "OffGraceful",
            gracefulShutdownTimeout: "2m",
            shutdownOnDestroy: "hard",
        });
        await valueOf(vm.observedPowerState);
        // eslint-disable-next-line @typescript-eslint/no-explicit-any
        await (pulumi.runtime as any).waitForRPCs();

        const component = registrations.find((r) => r.type === "graceful-vm:index:GracefulVm");
        const power = registrations.find((r) => r.type === "pulumi-nodejs:dynamic/graceful-vm:VmPower");
        expect(component?.name).toBe("web");
        expect(power?.name).toBe("web-power");
        expect(power?.parent).toBe(await valueOf(vm.urn));
        expect(power?.additionalSecretOutputs).toContain("credentials");

        const inputs = resources.find((r) => r.name === "web-power")?.inputs ?? {};
        expect(inputs).toMatchObject({
            platform: "custom",
            target: { module: "/opt/drivers/fake.js", options: { vm: "web-1" } },
            powerState: "OffGraceful",
            gracefulShutdownTimeout: "2m",
            shutdownOnDestroy: "hard",
        });
        // The credential is not in the plaintext target, and arrives as a secret.
        expect(JSON.stringify(inputs.target)).not.toContain("tok-Sup3rS3cret");
        expect((inputs.credentials as Record<string, unknown>)[secretSig]).toBeDefined();
        expect(typeof inputs.__provider).toBe("string");
        expect(inputs.__provider as string).not.toContain("tok-Sup3rS3cret");
    });

    test("outputs come from the child", async () => {
        await recordRegistrations();
        const vm = new GracefulVm("db", { target: { custom: { module: "/opt/d.js" } } });
        expect(await valueOf(vm.observedPowerState)).toBe("running");
        expect(await valueOf(vm.power.urn)).toContain("graceful-vm:index:GracefulVm$pulumi-nodejs:dynamic/graceful-vm:VmPower::db-power");
    });

    test("unset arguments are left to the provider's defaults", async () => {
        const { resources } = await recordRegistrations();
        const vm = new GracefulVm("app", { target: { custom: { module: "/opt/d.js" } } });
        await valueOf(vm.observedPowerState);
        const inputs = resources.find((r) => r.name === "app-power")?.inputs ?? {};
        expect(inputs.powerState).toBeUndefined();
        expect(inputs.gracefulShutdownTimeout).toBeUndefined();
    });

    test("a target naming no platform, or two, is refused at construction", async () => {
        await recordRegistrations();
        expect(() => new GracefulVm("x", { target: {} })).toThrow(/target: must name exactly one of .* got none/);
        expect(
            () => new GracefulVm("y", { target: { custom: { module: "/a.js" }, libvirt: { uri: "qemu:///system", domain: "y" } } }),
        ).toThrow(/got libvirt and custom/);
    });

    test("known bad inputs fail at construction, all at once, naming each field", async () => {
        await recordRegistrations();
        let error: unknown;
        try {
            new GracefulVm("z", {
                target: { custom: { module: "./relative.js" } },
                powerState: "Sleeping" as never,
                gracefulShutdownTimeout: "-3s",
            });
        } catch (e) {
            error = e;
        }
        expect(error).toBeInstanceOf(InputErrors);
        const fields = (error as InputErrors).errors.map((e: InputError) => e.field).sort();
        expect(fields).toEqual(["gracefulShutdownTimeout", "powerState", "target.custom.module"]);
    });

    test("values that are Outputs are not judged before they are known", async () => {
        await recordRegistrations();
        const vm = new GracefulVm("later", {
            target: { custom: { module: pulumi.output("/opt/d.js") } },
            gracefulShutdownTimeout: pulumi.output("90s"),
        });
        expect(await valueOf(vm.observedPowerState)).toBe("running");
    });

    test("the vm argument makes the power resource depend on the VM's own resource and carry its id", async () => {
        const { registrations, resources } = await recordRegistrations();
        const machine = new Machine("web-vm");
        const vm = new GracefulVm("web", { vm: machine, target: { custom: { module: "/opt/d.js", name: "web-1" } } });
        await valueOf(vm.observedPowerState);
        // eslint-disable-next-line @typescript-eslint/no-explicit-any
        await (pulumi.runtime as any).waitForRPCs();
        const power = registrations.find((r) => r.name === "web-power");
        expect(power?.dependencies).toContain(await valueOf(machine.urn));
        expect(resources.find((r) => r.name === "web-power")?.inputs.vmResourceId).toBe("web-vm-id");
    });

    test("without the vm argument a literal target depends on nothing", async () => {
        const { registrations } = await recordRegistrations();
        const vm = new GracefulVm("lone", { target: { custom: { module: "/opt/d.js", name: "web-1" } } });
        await valueOf(vm.observedPowerState);
        // eslint-disable-next-line @typescript-eslint/no-explicit-any
        await (pulumi.runtime as any).waitForRPCs();
        expect(registrations.find((r) => r.name === "lone-power")?.dependencies).toEqual([]);
    });
});
