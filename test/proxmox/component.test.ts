import * as proxmoxve from "@muhlba91/pulumi-proxmoxve";
import * as pulumi from "@pulumi/pulumi";
import { GracefulVm } from "../../components/gracefulVm";
import { proxmoxTargetFromVm } from "../../components/targets";
import { InputErrors } from "../../src/power/errors";
import { recordRegistrations, secretSig, valueOf } from "../components/mocks";

const token = "automation@pve!pulumi=5b0c3a8e-7d51-4e0f-a4b2-c1d2e3f4a5b6";
const connection = {
    endpoint: "https://pve1.example.com:8006",
    apiToken: pulumi.secret(token),
    fingerprint: Array(32).fill("AB").join(":"),
};

async function powerInputs(resources: pulumi.runtime.MockResourceArgs[], name: string): Promise<Record<string, unknown>> {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    await (pulumi.runtime as any).waitForRPCs();
    return resources.find((r) => r.name === name)?.inputs ?? {};
}

describe("GracefulVm with a Proxmox target", () => {
    test("takes a proxmoxve.VmLegacy's outputs: node and vmId in the target, the token only as a secret", async () => {
        const { resources } = await recordRegistrations();
        const vm = new proxmoxve.VmLegacy("web", { nodeName: "pve1", vmId: 105, name: "web" });
        const graceful = new GracefulVm("web", { target: { proxmox: proxmoxTargetFromVm(vm, connection) }, powerState: "OffGraceful" });
        await valueOf(graceful.observedPowerState);
        const inputs = await powerInputs(resources, "web-power");
        expect(inputs).toMatchObject({
            platform: "proxmox",
            target: { endpoint: "https://pve1.example.com:8006", node: "pve1", vmId: 105, fingerprint: connection.fingerprint },
            powerState: "OffGraceful",
        });
        expect(JSON.stringify(inputs.target)).not.toContain("5b0c3a8e");
        expect((inputs.credentials as Record<string, unknown>)[secretSig]).toBeDefined();
    });

    test("takes a proxmoxve.Vm, whose VM id is its resourceId", async () => {
        const { resources } = await recordRegistrations();
        const vm = new proxmoxve.Vm("db", { nodeName: "pve2", resourceId: "240" });
        const graceful = new GracefulVm("db", { target: { proxmox: proxmoxTargetFromVm(vm, connection) } });
        await valueOf(graceful.observedPowerState);
        const inputs = await powerInputs(resources, "db-power");
        expect(inputs.target).toMatchObject({ node: "pve2", vmId: 240 });
    });

    test("plain values are validated at construction, naming each field, without echoing the token", async () => {
        await recordRegistrations();
        let error: unknown;
        try {
            new GracefulVm("bad", {
                target: { proxmox: { endpoint: "http://pve:8006", apiToken: "automation@pve=topsecretvalue", node: "pve1", vmId: 7 } },
            });
        } catch (e) {
            error = e;
        }
        expect(error).toBeInstanceOf(InputErrors);
        const fields = (error as InputErrors).errors.map((e) => e.field).sort();
        expect(fields).toEqual(["target.proxmox.apiToken", "target.proxmox.endpoint", "target.proxmox.vmId"]);
        expect((error as Error).message).not.toContain("topsecretvalue");
    });
});
