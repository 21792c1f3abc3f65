import * as pulumi from "@pulumi/pulumi";
import { GracefulVm } from "../../components/gracefulVm";
import { GracefulVmArgs } from "../../components/gracefulVmArgs";
import { TransitionReport } from "../../src/power/report";
import { FileHypervisor } from "../fixtures/fileHypervisor";
import { Engine, EngineError, startEngine } from "../harness";

/**
 * The whole VmPower lifecycle through the real Pulumi dynamic-provider host over gRPC, across
 * simulated `pulumi up` runs, preview, refresh and destroy. The VM is a fake hypervisor's (a
 * JSON file) behind a "custom" driver module: the same path a platform driver takes.
 * Needs `npm run build` (scripts/test.sh does it): the host loads the package from lib/.
 */
describe("VmPower lifecycle through the dynamic-provider host", () => {
    let engine: Engine;
    const hypervisor = new FileHypervisor({ "web-1": { state: "stopped", guest: "graceful", shutdownDelayMs: 300 } });
    const token = "tok-Zq8-secret-never-logged";

    const program = (args: Partial<GracefulVmArgs>) => () => {
        new GracefulVm("web", {
            target: {
                custom: {
                    module: hypervisor.driverModule,
                    name: "web-1",
                    options: { stateFile: hypervisor.stateFile, vm: "web-1", requiredToken: token },
                    secrets: { token: pulumi.secret(token) },
                },
            },
            gracefulShutdownTimeout: "2s",
            ...args,
        });
    };
    const report = (outputs: Record<string, unknown>) => outputs.lastTransition as TransitionReport;
    const ops = (r: TransitionReport) => r.calls.map((c) => c.op);

    beforeAll(async () => {
        engine = await startEngine();
    });
    afterAll(async () => {
        await engine?.close();
    });

    test("1. create with On powers the VM on", async () => {
        const result = await engine.up(program({ powerState: "On" }));
        expect(result.steps.map((s) => s.op)).toEqual(["create"]);
        const outputs = result.outputs("web-power");
        expect(outputs.observedPowerState).toBe("running");
        expect(report(outputs)).toMatchObject({ from: "stopped", to: "running", method: "powerOn" });
        expect(ops(report(outputs))).toEqual(["readState", "powerOn", "waitForState"]);
        expect(hypervisor.takeJournal()).toEqual(["power-on web-1"]);
        expect(result.secretOutputs("web-power")).toContain("credentials");
    });

    test("2. OffGraceful with a guest that shuts down: graceful, not forced", async () => {
        const result = await engine.up(program({ powerState: "OffGraceful" }));
        expect(result.steps.map((s) => s.op)).toEqual(["update"]);
        const r = report(result.outputs("web-power"));
        expect(r).toMatchObject({
            from: "running",
            to: "stopped",
            method: "graceful",
            gracefulMethod: "fake-acpi",
            stateDetail: "shutdown",
        });
        expect(r.fallbackReason).toBeUndefined();
        expect(ops(r)).toEqual(expect.arrayContaining(["checkGuestTools", "requestGuestShutdown"]));
        expect(ops(r)).not.toContain("powerOffHard");
        expect(hypervisor.takeJournal()).toEqual(["shutdown-request web-1"]);
    });

    test("the same program again changes nothing", async () => {
        const result = await engine.up(program({ powerState: "OffGraceful" }));
        expect(result.steps.map((s) => s.op)).toEqual(["same"]);
        expect(hypervisor.takeJournal()).toEqual([]);
    });

    test("3. back to On", async () => {
        const result = await engine.up(program({ powerState: "On" }));
        expect(report(result.outputs("web-power"))).toMatchObject({ method: "powerOn", to: "running" });
        expect(hypervisor.takeJournal()).toEqual(["power-on web-1"]);
    });

    test("preview of a power change runs nothing", async () => {
        const result = await engine.up(program({ powerState: "OffGraceful" }), { preview: true });
        expect(result.steps.map((s) => s.op)).toEqual(["update"]);
        expect(result.steps[0].replaces ?? []).toEqual([]);
        expect(hypervisor.vm("web-1").state).toBe("running");
        expect(hypervisor.takeJournal()).toEqual([]);
    });

    test("4. OffGraceful with a hung guest: forced after the deadline, and the report says why", async () => {
        hypervisor.set("web-1", { guest: "hung" });
        const started = Date.now();
        const result = await engine.up(program({ powerState: "OffGraceful" }));
        const r = report(result.outputs("web-power"));
        expect(r).toMatchObject({ method: "forced", fallbackReason: "timeout", to: "stopped", stateDetail: "destroyed" });
        expect(r.fallbackDetail).toMatch(/still running after 2000 ms/);
        const forcedAt = r.calls.find((c) => c.op === "powerOffHard")?.startMs ?? 0;
        expect(forcedAt).toBeGreaterThanOrEqual(2000);
        expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
        expect(hypervisor.takeJournal()).toEqual(["shutdown-request web-1", "power-off-hard web-1"]);
    });

    test("5. refresh after an out-of-band power-on shows the drift, and the next up corrects it", async () => {
        hypervisor.set("web-1", { state: "running", guest: "graceful" });
        const refreshed = await engine.refresh();
        expect(refreshed.outputs("web-power").observedPowerState).toBe("running");
        expect(refreshed.outputs("web-power").powerState).toBe("OffGraceful");
        const result = await engine.up(program({ powerState: "OffGraceful" }));
        expect(result.steps.map((s) => s.op)).toEqual(["update"]);
        expect(report(result.outputs("web-power"))).toMatchObject({ method: "graceful", to: "stopped" });
        expect(hypervisor.takeJournal()).toEqual(["shutdown-request web-1"]);
    });

    test("a bad input is refused by Check, naming the field, before the VM is touched", async () => {
        const attempt = engine.up(program({ powerState: "On", gracefulShutdownTimeout: pulumi.output("ten seconds") }));
        await expect(attempt).rejects.toBeInstanceOf(EngineError);
        const error = (await attempt.catch((e: EngineError) => e)) as EngineError;
        expect(error.checkFailures?.[0]).toMatchObject({ property: "gracefulShutdownTimeout" });
        expect(hypervisor.takeJournal()).toEqual([]);
    });

    test("an up interrupted mid-shutdown can simply be run again", async () => {
        await engine.up(program({ powerState: "On" }));
        hypervisor.set("web-1", { state: "running", guest: "graceful", shutdownDelayMs: 1500, dropConnectionWhileWaiting: true });
        hypervisor.takeJournal();
        await expect(engine.up(program({ powerState: "OffGraceful" }))).rejects.toThrow(/connection lost/);
        // State still says On/running: the failed update left the old outputs.
        expect(engine.state()[0].outputs.powerState).toBe("On");
        const rerun = await engine.up(program({ powerState: "OffGraceful" }));
        const r = report(rerun.outputs("web-power"));
        expect(r.to).toBe("stopped");
        expect(r.method === "graceful" || r.method === "none").toBe(true);
        expect(hypervisor.takeJournal()).not.toContain("power-off-hard web-1");
    });

    test("a changed restartTrigger restarts the VM gracefully; the same trigger again does nothing", async () => {
        await engine.up(program({ powerState: "On", restartTrigger: "v1" }));
        hypervisor.takeJournal();
        const result = await engine.up(program({ powerState: "On", restartTrigger: "v2" }));
        expect(result.steps.map((s) => s.op)).toEqual(["update"]);
        expect(hypervisor.takeJournal()).toEqual(["shutdown-request web-1", "power-on web-1"]);
        const r = report(result.outputs("web-power"));
        expect(r).toMatchObject({ method: "powerOn", to: "running" });
        expect(r.notes.join(" ")).toMatch(/restarted \(restartTrigger changed\); the stop: .*by graceful/);
        const again = await engine.up(program({ powerState: "On", restartTrigger: "v2" }));
        expect(again.steps.map((s) => s.op)).toEqual(["same"]);
        expect(hypervisor.takeJournal()).toEqual([]);
    });

    test("6. destroy shuts the VM down gracefully first", async () => {
        await engine.up(program({ powerState: "On" }));
        hypervisor.takeJournal();
        const result = await engine.destroy();
        expect(result.steps.map((s) => s.op)).toEqual(["delete"]);
        expect(hypervisor.vm("web-1").state).toBe("stopped");
        expect(hypervisor.takeJournal()).toEqual(["shutdown-request web-1"]);
    });

    test("the credential never reached the host's logs or plaintext state", () => {
        expect(engine.hostLogs()).toContain("graceful-vm:");
        expect(engine.hostLogs()).not.toContain(token);
    });
});
