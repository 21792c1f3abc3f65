import * as pulumi from "@pulumi/pulumi";
import { GracefulVm } from "../../components/gracefulVm";
import { DesiredPowerState } from "../../src/power/states";
import { TransitionReport } from "../../src/power/report";
import { FileHypervisor } from "../fixtures/fileHypervisor";
import { Engine, EngineError, FakeProvider, startEngine } from "../harness";

/**
 * What a real `pulumi up` does to the VM, with the engine's rules (test/harness/engineRules.test.ts):
 * the VM's own resource (a fake provider on the file-backed fake hypervisor) and the GracefulVm in one
 * program, through the real dynamic-provider host, a fresh host per operation. The hypervisor's journal
 * shows what happened to the VM, in order. Needs `npm run build` (scripts/test.sh does it).
 */
const VM_TYPE = "test:index:Vm";

class FakeVmResource extends pulumi.CustomResource {
    declare public readonly vmName: pulumi.Output<string>;
    constructor(name: string, args: { vmName: string; generation: number }, opts?: pulumi.CustomResourceOptions) {
        super(VM_TYPE, name, args, opts);
    }
}

interface Shape {
    powerState: DesiredPowerState;
    /** bumping it replaces the VM's own resource */
    generation?: number;
    /** the VM's provider wants delete-first (a fixed name, a Proxmox VM id) */
    vmDeleteFirst?: boolean;
    /** tie the power resource to the VM with the component's `vm` argument */
    tied?: boolean;
}

describe("pulumi up with the VM's own resource in the program", () => {
    let hypervisor: FileHypervisor;
    let engine: Engine;

    const vmProvider: FakeProvider = {
        diff: (olds, news) => ({ replaces: ["vmName", "generation"].filter((k) => olds[k] !== news[k]) }),
        create: (_name, inputs) => {
            hypervisor.add(String(inputs.vmName), { state: "running", guest: "graceful", shutdownDelayMs: 200 });
            return { id: `${String(inputs.vmName)}#${String(inputs.generation)}` };
        },
        delete: (_id, outputs) => hypervisor.remove(String(outputs.vmName)),
    };

    const program = (shape: Shape) => () => {
        const vm = new FakeVmResource(
            "web-vm",
            { vmName: "web-1", generation: shape.generation ?? 1 },
            { deleteBeforeReplace: shape.vmDeleteFirst },
        );
        new GracefulVm("web", {
            vm: shape.tied === false ? undefined : vm,
            target: {
                custom: {
                    module: hypervisor.driverModule,
                    name: shape.tied === false ? "web-1" : vm.vmName,
                    options:
                        shape.tied === false
                            ? { stateFile: hypervisor.stateFile, vm: "web-1" }
                            : vm.vmName.apply((n) => ({ stateFile: hypervisor.stateFile, vm: n })),
                },
            },
            powerState: shape.powerState,
            gracefulShutdownTimeout: "5s",
        });
    };
    const report = (outputs: Record<string, unknown>) => outputs.lastTransition as TransitionReport;

    beforeEach(async () => {
        hypervisor = new FileHypervisor({});
        engine = await startEngine({ fakeProviders: { [VM_TYPE]: vmProvider } });
    });
    afterEach(async () => {
        await engine.close();
    });

    test("the power resource is created after the VM and depends on it (the vm argument)", async () => {
        const result = await engine.up(program({ powerState: "On" }));
        expect(result.timeline.map((t) => `${t.op} ${t.name}`)).toEqual(["create web-vm", "create web-power"]);
        const power = result.resources.find((r) => r.name === "web-power")!;
        const vm = result.resources.find((r) => r.name === "web-vm")!;
        expect(power.dependencies).toContain(vm.urn);
        expect(power.inputs.vmResourceId).toBe("web-1#1");
        expect(hypervisor.takeJournal()).toEqual(["vm-create web-1"]);
    });

    test("--replace of the power resource ends with the VM in the desired state", async () => {
        await engine.up(program({ powerState: "On" }));
        hypervisor.takeJournal();
        const result = await engine.up(program({ powerState: "On" }), { replace: ["web-power"] });
        // create-before-delete: the new one first, the old one's delete last, in the same host
        expect(result.timeline.map((t) => `${t.op} ${t.name}`)).toEqual(["create web-power", "delete web-power"]);
        expect(hypervisor.takeJournal()).toEqual([]);
        expect(hypervisor.vm("web-1").state).toBe("running");
        expect(result.outputs("web-power").observedPowerState).toBe("running");
        expect(engine.hostLogs()).toContain("its replacement in this deployment now holds its power state");
    });

    test("a VM replaced delete-first is shut down gracefully before its deletion, then brought to the desired state", async () => {
        await engine.up(program({ powerState: "On", vmDeleteFirst: true }));
        hypervisor.takeJournal();
        const result = await engine.up(program({ powerState: "On", vmDeleteFirst: true, generation: 2 }));
        expect(result.timeline.map((t) => `${t.op} ${t.name}${t.reason ? ` (${t.reason})` : ""}`)).toEqual([
            "delete web-power (dependent)",
            "delete web-vm (replaced)",
            "create web-vm",
            "create web-power",
        ]);
        expect(hypervisor.takeJournal()).toEqual(["shutdown-request web-1", "vm-delete web-1 (stopped)", "vm-create web-1"]);
        expect(hypervisor.vm("web-1").state).toBe("running");
        expect(result.outputs("web-power").vmResourceId).toBe("web-1#2");
    });

    test("destroy shuts the VM down gracefully before the VM's own resource deletes it, in the engine's order", async () => {
        await engine.up(program({ powerState: "On" }));
        hypervisor.takeJournal();
        const result = await engine.destroy();
        expect(result.deleteGroups).toEqual([["web-power"], ["web-vm"]]);
        expect(hypervisor.takeJournal()).toEqual(["shutdown-request web-1", "vm-delete web-1 (stopped)"]);
    });

    test("without an ordering (a literal target, no vm, no dependsOn) destroy deletes both at once: why the docs insist", async () => {
        await engine.up(program({ powerState: "On", tied: false }));
        const result = await engine.destroy();
        expect(result.deleteGroups.map((g) => [...g].sort())).toEqual([["web-power", "web-vm"]]);
    });

    test("after an interrupted up, a plain up back to the old state sees no change; refresh (refresh: always) corrects it", async () => {
        await engine.up(program({ powerState: "On" }));
        hypervisor.set("web-1", { shutdownDelayMs: 1500 });
        hypervisor.takeJournal();
        // killed once the guest was asked to shut down, while the update waits for it
        const interrupted = engine.up(program({ powerState: "OffGraceful" }), {
            interruptWhen: () => hypervisor.peekJournal().includes("shutdown-request web-1"),
        });
        const error = (await interrupted.catch((e: unknown) => e)) as EngineError;
        expect(error.interrupted).toBe(true);
        expect(engine.pendingOperations().map((p) => p.type)).toEqual(["updating"]);
        // the guest finished the shutdown it was asked for; state still says On/running
        await new Promise((resolve) => setTimeout(resolve, 1600));
        expect(hypervisor.takeJournal()).toContain("shutdown-request web-1");

        const plain = await engine.up(program({ powerState: "On" }), { preview: true });
        expect(plain.steps.find((s) => s.name === "web-power")?.op).toBe("same");
        expect(plain.warnings.join("\n")).toMatch(/pending operations from previous deployment/);

        const refreshed = await engine.up(program({ powerState: "On" }), { refresh: true });
        expect(refreshed.steps.find((s) => s.name === "web-power" && s.op !== "read")?.op).toBe("update");
        expect(report(refreshed.outputs("web-power"))).toMatchObject({ from: "stopped", to: "running", method: "powerOn" });
        expect(hypervisor.vm("web-1").state).toBe("running");
    });
});
