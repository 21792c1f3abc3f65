import * as pulumi from "@pulumi/pulumi";
import { GracefulVm } from "../../components/gracefulVm";
import { GracefulVmArgs } from "../../components/gracefulVmArgs";
import { InputError } from "../../src/power/errors";
import { Registration, recordRegistrations, secretSig, valueOf } from "../components/mocks";
import { errorsOf } from "../helpers/inputErrors";

/** The VmPower child's inputs as sent to the engine (secrets as `{sig, value}` objects, per field). */
async function childInputs(vm: GracefulVm, registrations: Registration[], name: string): Promise<Record<string, unknown>> {
    await valueOf(vm.observedPowerState);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- internal SDK hook
    await (pulumi.runtime as any).waitForRPCs?.();
    return registrations.find((r) => r.name === `${name}-power`)?.inputs ?? {};
}

const isSecret = (value: unknown): boolean => typeof value === "object" && value !== null && secretSig in value;

const vsphere = { url: "https://vc.example.com/sdk", username: "svc", password: "pw-Xy9-secret", vm: "web-1" };
const proxmox = { endpoint: "https://pve.example.com:8006", apiToken: "ci@pve!t=0f3c-secret", node: "pve1", vmId: 105 };

describe("GracefulVm keeps the user's secretness and takes whole-Output targets", () => {
    test.each([
        ["vsphere as one Output", { vsphere: pulumi.output(vsphere) }],
        ["vsphere as one secret Output", { vsphere: pulumi.secret(vsphere) }],
        ["proxmox as one Output", { proxmox: pulumi.output(proxmox) }],
        ["proxmox as one secret Output", { proxmox: pulumi.secret(proxmox) }],
    ])("%s is accepted and split into target and credentials", async (_name, target) => {
        const { registrations } = await recordRegistrations();
        const vm = new GracefulVm("whole", { target: target as GracefulVmArgs["target"] });
        const inputs = await childInputs(vm, registrations, "whole");
        expect(JSON.stringify(inputs.target)).not.toMatch(/pw-Xy9-secret|0f3c-secret/);
        expect(isSecret(inputs.credentials)).toBe(true);
    });

    test("a whole secret target stays secret in state", async () => {
        const { registrations } = await recordRegistrations();
        const vm = new GracefulVm("sec", { target: { vsphere: pulumi.secret(vsphere) } });
        expect(isSecret((await childInputs(vm, registrations, "sec")).target)).toBe(true);
    });

    test("a field the user marked secret stays secret, the others stay readable", async () => {
        const { registrations } = await recordRegistrations();
        const vm = new GracefulVm("uri", {
            target: { libvirt: { uri: pulumi.secret("qemu+ssh://admin@kvm-secret-host/system"), domain: "web-1" } },
        });
        const target = (await childInputs(vm, registrations, "uri")).target as Record<string, unknown>;
        expect(isSecret(target.uri)).toBe(true);
        expect(target.domain).toBe("web-1");
    });

    test("a secret vSphere username stays secret; the URL next to it does not become one", async () => {
        const { registrations } = await recordRegistrations();
        const vm = new GracefulVm("user", { target: { vsphere: { ...vsphere, username: pulumi.secret("svc-secret-user") } } });
        const target = (await childInputs(vm, registrations, "user")).target as Record<string, unknown>;
        expect(isSecret(target.username)).toBe(true);
        expect(target.url).toBe("https://vc.example.com/sdk");
    });
});

describe("GracefulVm refuses what it would otherwise ignore", () => {
    test("a misspelt argument names the key and suggests the right one", async () => {
        await recordRegistrations();
        const errors = errorsOf(() => new GracefulVm("typo", { target: { libvirt: { domain: "d" } }, powerstate: "Off" } as never));
        expect(errors.map((e) => e.field)).toEqual(["powerstate"]);
        expect(errors[0].message).toMatch(/did you mean "powerState"/);
    });

    test("a misspelt platform names the key", async () => {
        await recordRegistrations();
        const errors = errorsOf(() => new GracefulVm("typo2", { target: { libvrt: { domain: "d" } } } as never));
        expect(errors[0]).toMatchObject({ field: "target.libvrt", message: expect.stringMatching(/did you mean "libvirt"/) });
    });

    test.each([
        ["no args", undefined],
        ["null args", null],
        ["args without target", {}],
        ["target null", { target: null }],
    ])("%s is an InputError, not a TypeError", async (_name, args) => {
        await recordRegistrations();
        let error: unknown;
        try {
            new GracefulVm("missing", args as never);
        } catch (e) {
            error = e;
        }
        expect(error).toBeInstanceOf(InputError);
    });
});
