import * as pulumi from "@pulumi/pulumi";
import { GracefulVmGroup, GracefulVmGroupArgs, GracefulVmGroupMember } from "../../components/gracefulVmGroup";
import { DesiredPowerState } from "../../src/power/states";
import { TransitionReport } from "../../src/power/report";
import { FileHypervisor } from "../fixtures/fileHypervisor";
import { Engine, EngineError, startEngine } from "../harness";

/**
 * GracefulVmGroup through the real dynamic-provider host: one VmGroup resource whose create,
 * update and delete each run the fleet runner over the fake file hypervisor. The hypervisor's
 * journal records every change in the order it was made, so tier order is read from it.
 */
describe("GracefulVmGroup lifecycle through the dynamic-provider host", () => {
    let engine: Engine;
    const names = ["db-1", "web-1", "web-2", "web-3"];
    const hypervisor = new FileHypervisor(
        Object.fromEntries(names.map((n) => [n, { state: "stopped" as const, guest: "graceful" as const, shutdownDelayMs: 150 }])),
    );
    const token = "tok-group-Kx2-never-logged";

    const member = (name: string, powerState: DesiredPowerState, extra: Partial<GracefulVmGroupMember> = {}): GracefulVmGroupMember => ({
        name,
        target: {
            custom: {
                module: hypervisor.driverModule,
                name,
                options: { stateFile: hypervisor.stateFile, vm: name, requiredToken: token },
                secrets: { token: pulumi.secret(token) },
            },
        },
        gracefulShutdownTimeout: "2s",
        powerState,
        ...extra,
    });
    const program =
        (
            powerState: DesiredPowerState,
            args: Partial<GracefulVmGroupArgs> = {},
            web: string[] = ["web-1", "web-2"],
            extra: Record<string, Partial<GracefulVmGroupMember>> = {},
        ) =>
        () => {
            new GracefulVmGroup("fleet", {
                tiers: [
                    { name: "database", vms: [member("db-1", powerState, extra["db-1"])] },
                    { name: "web", vms: web.map((n) => member(n, powerState, extra[n])) },
                ],
                concurrency: 4,
                ...args,
            });
        };
    const reports = (outputs: Record<string, unknown>) => outputs.reports as Record<string, TransitionReport[]>;

    beforeAll(async () => {
        engine = await startEngine();
    });
    afterAll(async () => {
        await engine?.close();
    });

    test("create with On starts tier 0 first, one resource for the whole group, credentials secret", async () => {
        const result = await engine.up(program("On"));
        expect(result.steps.map((s) => s.op)).toEqual(["create"]);
        const journal = hypervisor.takeJournal();
        expect(journal[0]).toBe("power-on db-1");
        expect(journal.slice(1).sort()).toEqual(["power-on web-1", "power-on web-2"]);
        const outputs = result.outputs("fleet-group");
        expect(outputs.observedPowerStates).toEqual({ "db-1": "running", "web-1": "running", "web-2": "running" });
        expect(reports(outputs)["db-1"][0]).toMatchObject({ desired: "On", method: "powerOn" });
        expect(result.secretOutputs("fleet-group")).toContain("credentials");
    });

    test("OffGraceful stops the last tier first, gracefully", async () => {
        const result = await engine.up(program("OffGraceful"));
        expect(result.steps.map((s) => s.op)).toEqual(["update"]);
        const journal = hypervisor.takeJournal();
        expect(journal.slice(0, 2).sort()).toEqual(["shutdown-request web-1", "shutdown-request web-2"]);
        expect(journal[2]).toBe("shutdown-request db-1");
        expect(Object.values(reports(result.outputs("fleet-group"))).map((r) => r[0].method)).toEqual(["graceful", "graceful", "graceful"]);
    });

    test("the same program again changes nothing", async () => {
        const result = await engine.up(program("OffGraceful"));
        expect(result.steps.map((s) => s.op)).toEqual(["same"]);
        expect(hypervisor.takeJournal()).toEqual([]);
    });

    test("On again starts tier 0 first", async () => {
        await engine.up(program("On"));
        const journal = hypervisor.takeJournal();
        expect(journal[0]).toBe("power-on db-1");
        expect(journal).toHaveLength(3);
    });

    test("a changed group restartTrigger rolls a graceful restart tier by tier, one VM at a time", async () => {
        const result = await engine.up(program("On", { restartTrigger: "patch-1", concurrency: 1 }));
        expect(hypervisor.takeJournal()).toEqual([
            "shutdown-request db-1",
            "power-on db-1",
            "shutdown-request web-1",
            "power-on web-1",
            "shutdown-request web-2",
            "power-on web-2",
        ]);
        expect(reports(result.outputs("fleet-group"))["web-2"].map((r) => [r.desired, r.method])).toEqual([
            ["OffGraceful", "graceful"],
            ["On", "powerOn"],
        ]);
        // A per-VM trigger restarts that VM only.
        await engine.up(program("On", { restartTrigger: "patch-1", concurrency: 1 }, undefined, { "web-1": { restartTrigger: 2 } }));
        expect(hypervisor.takeJournal()).toEqual(["shutdown-request web-1", "power-on web-1"]);
    });

    test("adding a VM touches only that VM; removing it shuts down only that VM", async () => {
        const settings = { restartTrigger: "patch-1", concurrency: 1 };
        const web1 = { "web-1": { restartTrigger: 2 } };
        const added = await engine.up(program("On", settings, ["web-1", "web-2", "web-3"], web1));
        expect(hypervisor.takeJournal()).toEqual(["power-on web-3"]);
        expect(reports(added.outputs("fleet-group"))["web-2"].map((r) => r.desired)).toEqual(["OffGraceful", "On"]);
        await engine.up(program("On", settings, ["web-1", "web-2"], web1));
        expect(hypervisor.takeJournal()).toEqual(["shutdown-request web-3"]);
        expect(hypervisor.vm("web-3").state).toBe("stopped");
    });

    test("a failing tier halts the rollout: the update fails with every VM's outcome, the next tier untouched", async () => {
        hypervisor.set("web-2", { guest: "hung" });
        const attempt = engine.up(
            program("OffGraceful", { concurrency: 4 }, undefined, {
                "web-2": { forceAfterTimeout: false, gracefulShutdownTimeout: "400ms" },
            }),
        );
        await expect(attempt).rejects.toBeInstanceOf(EngineError);
        const error = (await attempt.catch((e: EngineError) => e)) as EngineError;
        expect(error.message).toMatch(/web-1: done: .*graceful/);
        expect(error.message).toMatch(/web-2: failed: .*forcing is disabled/);
        expect(error.message).toMatch(/db-1: skipped/);
        expect(error.message).not.toContain(token);
        expect(hypervisor.takeJournal().sort()).toEqual(["shutdown-request web-1", "shutdown-request web-2"]);
        expect(hypervisor.vm("db-1").state).toBe("running");
        expect(engine.hostLogs()).not.toContain(token);
    });

    test("destroy shuts down in reverse tier order", async () => {
        hypervisor.set("web-2", { guest: "graceful" });
        await engine.up(program("On"));
        hypervisor.takeJournal();
        await engine.destroy();
        const journal = hypervisor.takeJournal();
        expect(journal.at(-1)).toBe("shutdown-request db-1");
        expect(journal.slice(0, -1).sort()).toEqual(["shutdown-request web-1", "shutdown-request web-2"]);
        expect(names.map((n) => hypervisor.vm(n).state)).toEqual(["stopped", "stopped", "stopped", "stopped"]);
    });
});
