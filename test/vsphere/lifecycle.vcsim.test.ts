import * as pulumi from "@pulumi/pulumi";
import { GracefulVm } from "../../components/gracefulVm";
import { GracefulVmArgs } from "../../components/gracefulVmArgs";
import { VsphereTargetArgs } from "../../components/targets";
import { TransitionReport } from "../../src/power/report";
import { Engine, EngineError, startEngine } from "../harness";
import { describeWithPeer } from "../helpers/peers";
import { Vcsim, ensurePower, open, setBehaviour, vcsimFrom, vcsimVariables } from "./vcsim";

/**
 * GracefulVm → VmPower → the real dynamic-provider host → the vSphere driver → vcsim, across
 * `pulumi up` runs, preview, refresh and destroy. Needs `npm run build` (scripts/test.sh does it).
 * Uses DC0_C0_RP0_VM1 only, so it can run beside driver.vcsim.test.ts.
 */
describeWithPeer("GracefulVm on vSphere through the dynamic-provider host", "vsphere", vcsimVariables, (env) => {
    const sim: Vcsim = vcsimFrom(env);
    const vm = "DC0_C0_RP0_VM1";
    let engine: Engine;

    const target = (extra: Partial<VsphereTargetArgs> = {}): VsphereTargetArgs => ({
        url: sim.url,
        username: sim.username,
        password: pulumi.secret(sim.password),
        vm,
        caCert: sim.caCert,
        ...extra,
    });
    const program =
        (args: Partial<GracefulVmArgs>, extra: Partial<VsphereTargetArgs> = {}) =>
        () => {
            new GracefulVm("web", { target: { vsphere: target(extra) }, gracefulShutdownTimeout: "2s", ...args });
        };
    const report = (outputs: Record<string, unknown>) => outputs.lastTransition as TransitionReport;
    const powerNow = async (): Promise<string> => {
        const driver = await open(sim, vm);
        try {
            return (await driver.readState()).state;
        } finally {
            await driver.close();
        }
    };

    beforeAll(async () => {
        await setBehaviour(sim, vm, {});
        await ensurePower(sim, vm, "stopped");
        engine = await startEngine();
    });
    afterAll(async () => {
        await engine?.close();
        await setBehaviour(sim, vm, {});
        await ensurePower(sim, vm, "running");
    });

    test("create with On powers the VM on with PowerOnVM_Task; the password is a secret", async () => {
        const result = await engine.up(program({ powerState: "On" }));
        expect(result.steps.map((s) => s.op)).toEqual(["create"]);
        const outputs = result.outputs("web-power");
        expect(outputs.observedPowerState).toBe("running");
        expect(report(outputs)).toMatchObject({
            platform: "vsphere",
            from: "stopped",
            to: "running",
            method: "powerOn",
            stateDetail: "poweredOn",
        });
        expect(report(outputs).vm).toMatch(/^vsphere 127\.0\.0\.1:\d+ VM DC0_C0_RP0_VM1 \(vm-\d+\)$/);
        expect(result.secretOutputs("web-power")).toContain("credentials");
        expect(outputs.target).not.toHaveProperty("password");
        expect(await powerNow()).toBe("running");
    });

    test("OffGraceful: VMware Tools shuts the guest down, no hard power-off", async () => {
        const result = await engine.up(program({ powerState: "OffGraceful" }));
        expect(result.steps.map((s) => s.op)).toEqual(["update"]);
        const r = report(result.outputs("web-power"));
        expect(r).toMatchObject({
            from: "running",
            to: "stopped",
            method: "graceful",
            gracefulMethod: "vmware-tools",
            guestTools: "VMware Tools guestToolsRunning",
        });
        expect(r.calls.map((c) => c.op)).not.toContain("powerOffHard");
        expect(await powerNow()).toBe("stopped");
    });

    test("the same program again changes nothing", async () => {
        const result = await engine.up(program({ powerState: "OffGraceful" }));
        expect(result.steps.map((s) => s.op)).toEqual(["same"]);
    });

    test("refresh after an out-of-band power-on shows the drift; the next up corrects it", async () => {
        await ensurePower(sim, vm, "running");
        const refreshed = await engine.refresh();
        expect(refreshed.outputs("web-power").observedPowerState).toBe("running");
        const result = await engine.up(program({ powerState: "OffGraceful" }));
        expect(result.steps.map((s) => s.op)).toEqual(["update"]);
        expect(report(result.outputs("web-power"))).toMatchObject({ method: "graceful", to: "stopped" });
    });

    test("hung guest: forced after the 2 s deadline, and the report says why", async () => {
        await engine.up(program({ powerState: "On" }));
        await setBehaviour(sim, vm, { shutdown: "hang" });
        const result = await engine.up(program({ powerState: "OffGraceful" }));
        const r = report(result.outputs("web-power"));
        expect(r).toMatchObject({ method: "forced", fallbackReason: "timeout", to: "stopped" });
        expect(r.calls.find((c) => c.op === "powerOffHard")?.startMs).toBeGreaterThanOrEqual(2_000);
        await setBehaviour(sim, vm, {});
    });

    test("tools not running: falls back at once and reports the tools state", async () => {
        await engine.up(program({ powerState: "On" }));
        await setBehaviour(sim, vm, { tools: "notRunning" });
        const result = await engine.up(program({ powerState: "OffGraceful" }));
        expect(report(result.outputs("web-power"))).toMatchObject({
            method: "forced",
            fallbackReason: "toolsUnavailable",
            fallbackDetail: "VMware Tools guestToolsNotRunning (toolsNotRunning), guestState notRunning",
        });
        await setBehaviour(sim, vm, {});
    });

    test("insecure: true is warned about at preview and changes nothing yet", async () => {
        const result = await engine.up(program({ powerState: "OffGraceful" }, { caCert: undefined, insecure: true }), { preview: true });
        expect(result.steps.map((s) => s.op)).toEqual(["update"]);
        expect(result.steps[0].replaces ?? []).toEqual([]);
        expect(result.warnings.join("\n")).toMatch(/insecure is true.*not verified/);
    });

    test("a changed vm replaces the power resource", async () => {
        const result = await engine.up(program({ powerState: "OffGraceful" }, { vm: `DC0/vm/${vm}` }), { preview: true });
        expect(result.steps.map((s) => s.op)).toEqual(["replace"]);
    });

    test("a wrong password fails the update with a clear error, never echoing it", async () => {
        const wrong = "Wr0ng-Lifecycle-S3cret";
        const attempt = engine.up(program({ powerState: "On" }, { password: pulumi.secret(wrong) }));
        await expect(attempt).rejects.toBeInstanceOf(EngineError);
        const error = (await attempt.catch((e: EngineError) => e)) as EngineError;
        expect(error.message).toMatch(/refused the login of "user" \(InvalidLogin\)/);
        expect(error.message).not.toContain(wrong);
        expect(engine.hostLogs()).not.toContain(wrong);
    });

    test("in state, the password is only inside the secret credentials", () => {
        // scripts/peers/vsphere.sh gives vcsim a password no other text contains.
        expect(sim.password.length).toBeGreaterThanOrEqual(8);
        const records = engine.state();
        expect(records).toHaveLength(1);
        for (const record of records) {
            const { credentials, ...plaintext } = record.raw.outputs;
            expect(JSON.stringify(plaintext)).not.toContain(sim.password);
            expect(JSON.stringify(record.raw.inputs.target ?? {})).not.toContain(sim.password);
            // The engine's secret envelope signature.
            expect(JSON.stringify(credentials)).toContain("1b47061264138c4ac30d75fd1eb44270");
        }
    });

    test("destroy shuts the VM down gracefully first", async () => {
        await engine.up(program({ powerState: "On" }));
        expect(await powerNow()).toBe("running");
        const result = await engine.destroy();
        expect(result.steps.map((s) => s.op)).toEqual(["delete"]);
        expect(await powerNow()).toBe("stopped");
    });

    test("the password never reached the host's logs", () => {
        expect(engine.hostLogs()).toContain("graceful-vm:");
        expect(engine.hostLogs()).not.toContain(sim.password);
    });
});
