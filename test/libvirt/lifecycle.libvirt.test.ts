import { GracefulVm } from "../../components/gracefulVm";
import { GracefulVmArgs } from "../../components/gracefulVmArgs";
import { TransitionReport } from "../../src/power/report";
import { Engine, startEngine } from "../harness";
import { describeWithPeer } from "../helpers/peers";
import { Guest, defineGuest, libvirtPeerVariables, takeGuestSlot, virsh } from "./guests";

/**
 * The whole VmPower lifecycle on a real libvirt guest, through the real dynamic-provider host:
 * create (power on), graceful shutdown on update, no-op re-run, preview, refresh after an
 * out-of-band power-on, and destroy shutting the guest down gracefully first.
 * Needs `npm run build` (scripts/test.sh does it): the host loads the package from lib/.
 */
describeWithPeer("GracefulVm on libvirt through the dynamic-provider host", "libvirt", libvirtPeerVariables, (env) => {
    // Includes waiting for one of the two guest slots shared with the other libvirt test files.
    jest.setTimeout(360_000);
    let engine: Engine;
    let guest: Guest;
    let release: () => void = () => undefined;

    const program = (args: Partial<GracefulVmArgs>) => () => {
        new GracefulVm("web", {
            target: { libvirt: { uri: env.LVPEER_URI, domain: guest.name, shutdownMode: "acpi" } },
            gracefulShutdownTimeout: "30s",
            ...args,
        });
    };
    const report = (outputs: Record<string, unknown>) => outputs.lastTransition as TransitionReport;

    beforeAll(async () => {
        release = await takeGuestSlot(env);
        guest = defineGuest(env, "pulumi", "graceful");
        engine = await startEngine();
    });
    afterAll(async () => {
        await engine?.close();
        await guest?.remove();
        release();
    });

    test("create with On boots the domain", async () => {
        guest.truncateLogs();
        const result = await engine.up(program({ powerState: "On" }));
        expect(result.steps.map((s) => s.op)).toEqual(["create"]);
        const outputs = result.outputs("web-power");
        expect(outputs.observedPowerState).toBe("running");
        expect(report(outputs)).toMatchObject({ platform: "libvirt", from: "stopped", to: "running", method: "powerOn" });
        expect(result.resources.find((r) => r.name === "web-power")?.id).toBe(`libvirt:${env.LVPEER_URI} domain ${guest.name}`);
        await guest.waitReady();
    });

    test("preview of OffGraceful touches nothing", async () => {
        const result = await engine.up(program({ powerState: "OffGraceful" }), { preview: true });
        expect(result.steps.map((s) => s.op)).toEqual(["update"]);
        expect(await guest.state()).toMatch(/^running/);
    });

    test("OffGraceful shuts the guest down through ACPI: its pre-stop hook runs, no destroy", async () => {
        const result = await engine.up(program({ powerState: "OffGraceful" }));
        expect(result.steps.map((s) => s.op)).toEqual(["update"]);
        const outputs = result.outputs("web-power");
        expect(outputs).toMatchObject({ observedPowerState: "stopped", observedStateDetail: "shut off (shutdown)" });
        const r = report(outputs);
        expect(r).toMatchObject({ method: "graceful", gracefulMethod: "acpi", stateDetail: "shut off (shutdown)" });
        expect(r.calls.map((c) => c.op)).not.toContain("powerOffHard");
        expect(guest.hookLog()).toContain("prestop: done");
    });

    test("the same program again changes nothing", async () => {
        const result = await engine.up(program({ powerState: "OffGraceful" }));
        expect(result.steps.map((s) => s.op)).toEqual(["same"]);
    });

    test("refresh sees an out-of-band power-on; destroy then shuts the guest down gracefully", async () => {
        guest.truncateLogs();
        expect((await virsh(env, ["start", "--domain", guest.name])).ok).toBe(true);
        const refreshed = await engine.refresh();
        expect(refreshed.outputs("web-power")).toMatchObject({ observedPowerState: "running", observedStateDetail: "running (booted)" });
        await guest.waitReady();

        const destroyed = await engine.destroy();
        expect(destroyed.steps.map((s) => s.op)).toEqual(["delete"]);
        expect(await guest.state()).toBe("shut off (shutdown)");
        expect(guest.hookLog()).toContain("prestop: done");
        expect(engine.hostLogs()).toMatch(/graceful-vm: .*running -> stopped \(OffGraceful\) by graceful via acpi/);
    });
});
