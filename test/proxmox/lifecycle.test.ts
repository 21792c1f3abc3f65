import * as pulumi from "@pulumi/pulumi";
import { GracefulVm } from "../../components/gracefulVm";
import { GracefulVmArgs } from "../../components/gracefulVmArgs";
import { proxmoxTargetFromVm } from "../../components/targets";
import { TransitionReport } from "../../src/power/report";
import { ProxmoxContractServer } from "../contracts/proxmox";
import { Engine, EngineError, startEngine } from "../harness";

/**
 * The VmPower lifecycle on Proxmox through the real dynamic-provider host (a separate process
 * that loads lib/ and talks HTTPS to the contract server in this process): create, graceful
 * shutdown, hung guest forced, refresh drift, bad token, destroy. The driver runs with its
 * production defaults (1 s polling). Needs `npm run build` (scripts/test.sh does it).
 */
describe("VmPower lifecycle on Proxmox through the dynamic-provider host", () => {
    let engine: Engine;
    let server: ProxmoxContractServer;
    const secret = "c0ffee00-1234-4abc-9def-00000000abcd";
    let apiToken = "";
    const vmId = 301;

    const program =
        (args: Partial<GracefulVmArgs>, token = apiToken) =>
        () => {
            // The VM as @muhlba91/pulumi-proxmoxve's VmLegacy exposes it (outputs), without that package.
            const vm = { nodeName: pulumi.output("pve1"), vmId: pulumi.output(vmId) };
            new GracefulVm("web", {
                target: {
                    proxmox: proxmoxTargetFromVm(vm, {
                        endpoint: server.endpoint,
                        apiToken: pulumi.secret(token),
                        fingerprint: server.certificate.fingerprint256,
                    }),
                },
                gracefulShutdownTimeout: "2s",
                ...args,
            });
        };
    const report = (outputs: Record<string, unknown>) => outputs.lastTransition as TransitionReport;
    const posts = () => server.requests.filter((r) => r.method === "POST").map((r) => r.path.replace(/^.*\/qemu\/\d+\//, ""));

    beforeAll(async () => {
        server = await ProxmoxContractServer.start({ authFailureDelayMs: 200 });
        apiToken = server.addToken({ id: "automation@pve!pulumi", secret });
        server.addVm({ vmid: vmId, status: "stopped", shutdownDelayMs: 400, agentBootDelayMs: 100 });
        engine = await startEngine();
    });
    afterAll(async () => {
        await engine?.close();
        await server?.stop();
    });
    beforeEach(() => {
        server.requests.length = 0;
    });

    test("create with On starts the VM", async () => {
        const result = await engine.up(program({ powerState: "On" }));
        expect(result.steps.map((s) => s.op)).toEqual(["create"]);
        const outputs = result.outputs("web-power");
        expect(outputs.observedPowerState).toBe("running");
        expect(report(outputs)).toMatchObject({ platform: "proxmox", from: "stopped", to: "running", method: "powerOn" });
        expect(outputs.target).toMatchObject({ node: "pve1", vmId, endpoint: server.endpoint });
        expect(result.secretOutputs("web-power")).toContain("credentials");
        expect(posts()).toEqual(["status/start"]);
    });

    test("OffGraceful: one PVE shutdown task, the guest powers off, no stop", async () => {
        const result = await engine.up(program({ powerState: "OffGraceful" }));
        expect(result.steps.map((s) => s.op)).toEqual(["update"]);
        const r = report(result.outputs("web-power"));
        expect(r).toMatchObject({ from: "running", to: "stopped", method: "graceful", gracefulMethod: "pve-shutdown" });
        expect(r.guestTools).toContain("guest agent enabled");
        expect(posts()).toEqual(["status/shutdown"]);
    });

    test("hung guest: forced after the 2 s deadline with overrule-shutdown", async () => {
        await engine.up(program({ powerState: "On" }));
        server.vms.get(vmId)!.guest.shutdownDelayMs = "never";
        server.requests.length = 0;
        const started = Date.now();
        const result = await engine.up(program({ powerState: "OffGraceful" }));
        const r = report(result.outputs("web-power"));
        expect(r).toMatchObject({ method: "forced", fallbackReason: "timeout", to: "stopped" });
        expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
        expect(posts()).toEqual(["status/shutdown", "status/stop"]);
        expect(server.requests.find((q) => q.path.endsWith("status/stop"))?.parameters).toMatchObject({ "overrule-shutdown": "1" });
        server.vms.get(vmId)!.guest.shutdownDelayMs = 400;
    });

    test("refresh shows an out-of-band start; the next up shuts it down again", async () => {
        server.vms.get(vmId)!.start("started in the PVE web UI");
        const refreshed = await engine.refresh();
        expect(refreshed.outputs("web-power").observedPowerState).toBe("running");
        const result = await engine.up(program({ powerState: "OffGraceful" }));
        expect(report(result.outputs("web-power"))).toMatchObject({ method: "graceful", to: "stopped" });
    });

    test("a locked VM fails the update with the lock's name and is left alone", async () => {
        await engine.up(program({ powerState: "On" }));
        server.vms.get(vmId)!.lock = "backup";
        server.requests.length = 0;
        const failure = await engine.up(program({ powerState: "OffGraceful" })).catch((e: unknown) => e);
        expect(failure).toBeInstanceOf(EngineError);
        expect((failure as Error).message).toContain("is locked (backup)");
        expect(posts()).toEqual([]);
        expect(server.vms.get(vmId)!.running).toBe(true);
        server.vms.get(vmId)!.lock = undefined;
    });

    test("a wrong token fails with HTTP 401 and is not retried; the secret is not in the error", async () => {
        const wrong = "automation@pve!pulumi=deadbeef-0000-4000-8000-feedfacecafe";
        const failure = await engine.up(program({ powerState: "OffGraceful" }, wrong)).catch((e: unknown) => e);
        expect(failure).toBeInstanceOf(EngineError);
        expect((failure as Error).message).toContain("HTTP 401");
        expect((failure as Error).message).not.toContain("deadbeef-0000");
        expect(server.requests.filter((r) => r.status === 401)).toHaveLength(1);
    });

    test("destroy shuts the VM down gracefully", async () => {
        server.requests.length = 0;
        const result = await engine.destroy();
        expect(result.steps.map((s) => s.op)).toEqual(["delete"]);
        expect(server.vms.get(vmId)!.running).toBe(false);
        expect(posts()).toEqual(["status/shutdown"]);
    });

    test("the token never reached the host's logs or the plaintext state", () => {
        expect(engine.hostLogs()).not.toContain(secret);
        expect(engine.hostLogs()).not.toContain("deadbeef-0000");
        for (const record of engine.state()) {
            expect(JSON.stringify(record.raw.outputs.target ?? {})).not.toContain(secret);
        }
    });
});
