import { localVm } from "../../examples/libvirt/program";
import { TransitionReport } from "../../src/power/report";
import { Engine, startEngine } from "../harness";
import { describeWithPeer } from "../helpers/peers";
import { Guest, defineGuest, libvirtPeerVariables, takeGuestSlot } from "./guests";

/**
 * The root Pulumi project's program (Pulumi.yaml -> examples/libvirt/) with stack config
 * `graceful-vm:*`, through the real dynamic-provider host on a real guest: `up` boots the
 * domain, `destroy` shuts it down gracefully.
 */
describeWithPeer("the root program (local default) on a libvirt guest", "libvirt", libvirtPeerVariables, (env) => {
    // Includes waiting for one of the two guest slots shared with the other libvirt test files.
    jest.setTimeout(360_000);
    let engine: Engine;
    let guest: Guest;
    let release: () => void = () => undefined;

    beforeAll(async () => {
        release = await takeGuestSlot(env);
        guest = defineGuest(env, "root", "graceful");
        engine = await startEngine({
            project: "graceful-vm",
            config: {
                "graceful-vm:domain": guest.name,
                "graceful-vm:uri": env.LVPEER_URI,
                "graceful-vm:shutdownMode": "acpi",
                "graceful-vm:gracefulShutdownTimeout": "30s",
            },
        });
    });
    afterAll(async () => {
        await engine?.close();
        await guest?.remove();
        release();
    });

    test("pulumi up with the stack config powers the domain on; destroy shuts it down gracefully", async () => {
        guest.truncateLogs();
        const up = await engine.up(() => {
            localVm();
        });
        expect(up.steps.map((s) => s.op)).toEqual(["create"]);
        expect(up.outputs("local-power")).toMatchObject({
            observedPowerState: "running",
            target: { uri: env.LVPEER_URI, domain: guest.name },
        });
        await guest.waitReady();

        const destroyed = await engine.destroy();
        expect(destroyed.steps.map((s) => s.op)).toEqual(["delete"]);
        expect(await guest.state()).toBe("shut off (shutdown)");
        expect(guest.hookLog()).toContain("prestop: done");
        const logs = engine.hostLogs();
        expect(logs).toMatch(/by graceful via acpi/);
        const created = up.outputs("local-power").lastTransition as TransitionReport;
        expect(created.method).toBe("powerOn");
    });
});
