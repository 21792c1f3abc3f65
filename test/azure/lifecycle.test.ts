import * as pulumi from "@pulumi/pulumi";
import { GracefulVm } from "../../components/gracefulVm";
import { GracefulVmArgs } from "../../components/gracefulVmArgs";
import { TransitionReport } from "../../src/power/report";
import { Engine, EngineError, startEngine } from "../harness";
import { AzureContractServer, FakeVm, cloudError } from "../contracts/azure/server";
import { clientId, clientSecret, resourceGroupName, subscriptionId, tenantId } from "./setup";

/**
 * The VmPower lifecycle on Azure through the real dynamic-provider host: the host loads the
 * compiled driver from lib/ (run `npm run build` first; scripts/test.sh does) and talks HTTPS
 * to the contract server in this process, trusting its test CA through `caCert`.
 * The runs switch between Location-only and Azure-AsyncOperation tracking.
 */
describe("VmPower lifecycle on Azure through the dynamic-provider host", () => {
    let engine: Engine;
    let server: AzureContractServer;
    let vm: FakeVm;

    /** web-1 on the contract server, signing in with this client secret. */
    const target = (secret: string): GracefulVmArgs["target"] => ({
        azure: {
            subscriptionId,
            resourceGroupName,
            vmName: "web-1",
            tenantId,
            clientId,
            clientSecret: pulumi.secret(secret),
            resourceManagerEndpoint: server.url,
            authorityHost: server.url,
            caCert: server.caCert,
        },
    });
    const program = (args: Partial<GracefulVmArgs>) => () => {
        new GracefulVm("web", {
            target: target(clientSecret),
            gracefulShutdownTimeout: "2s",
            ...args,
        });
    };
    const report = (outputs: Record<string, unknown>) => outputs.lastTransition as TransitionReport;
    const posts = (): string[] => {
        const actions = server
            .armRequests()
            .filter((r) => r.method === "POST")
            .map((r) => `${r.path.split("/").pop()}${r.query.skipShutdown === "true" ? " skipShutdown" : ""}`);
        server.requests.length = 0;
        return actions;
    };

    beforeAll(async () => {
        server = await AzureContractServer.start({
            principals: [{ tenantId, clientId, clientSecret }],
            operationMs: 150,
            lroStyle: "location",
        });
        vm = server.addVm({
            subscriptionId,
            resourceGroupName,
            vmName: "web-1",
            powerState: "deallocated",
            guest: { kind: "shutsDown", afterMs: 300 },
        });
        engine = await startEngine();
    });
    afterAll(async () => {
        await engine?.close();
        await server?.stop();
    });

    test("create with On starts the deallocated VM (Location polling)", async () => {
        const result = await engine.up(program({ powerState: "On" }));
        expect(result.steps.map((s) => s.op)).toEqual(["create"]);
        const outputs = result.outputs("web-power");
        expect(outputs.observedPowerState).toBe("running");
        expect(outputs.observedStateDetail).toBe("PowerState/running");
        expect(report(outputs)).toMatchObject({ platform: "azure", from: "deallocated", to: "running", method: "powerOn" });
        expect(posts()).toEqual(["start"]);
        expect(result.secretOutputs("web-power")).toContain("credentials");
        expect(outputs.target).not.toHaveProperty("clientSecret");
    });

    test("OffGraceful: Azure's integrated shutdown, no hard power-off (Azure-AsyncOperation polling)", async () => {
        server.lroStyle = "azure-asyncoperation";
        const result = await engine.up(program({ powerState: "OffGraceful" }));
        expect(result.steps.map((s) => s.op)).toEqual(["update"]);
        const r = report(result.outputs("web-power"));
        expect(r).toMatchObject({
            from: "running",
            to: "stopped",
            method: "graceful",
            gracefulMethod: "azure-integrated",
            stateDetail: "PowerState/stopped",
        });
        expect(r.fallbackReason).toBeUndefined();
        expect(posts()).toEqual(["powerOff"]);
        expect(vm.lastStop).toBe("guest");
    });

    test("the same program again changes nothing", async () => {
        const result = await engine.up(program({ powerState: "OffGraceful" }));
        expect(result.steps.map((s) => s.op)).toEqual(["same"]);
        expect(posts()).toEqual([]);
    });

    test("a graceful timeout above 5 minutes warns at preview that Azure cuts it short", async () => {
        const result = await engine.up(program({ powerState: "OffGraceful", gracefulShutdownTimeout: "10m" }), { preview: true });
        expect(result.warnings.join("\n")).toMatch(/Azure forces a VM off about 5 minutes after a graceful powerOff/);
        expect(posts()).toEqual([]);
    });

    test("back to On", async () => {
        server.lroStyle = "both";
        const result = await engine.up(program({ powerState: "On" }));
        expect(report(result.outputs("web-power"))).toMatchObject({ method: "powerOn", to: "running" });
        expect(posts()).toEqual(["start"]);
    });

    test("OffGraceful with a guest that ignores the signal: forced at our 2s deadline", async () => {
        server.lroStyle = "location";
        vm.guest = { kind: "ignoresShutdown" };
        const result = await engine.up(program({ powerState: "OffGraceful" }));
        const r = report(result.outputs("web-power"));
        expect(r).toMatchObject({ method: "forced", fallbackReason: "timeout", to: "stopped" });
        expect(r.calls.find((c) => c.op === "powerOffHard")?.startMs ?? 0).toBeGreaterThanOrEqual(2000);
        expect(posts()).toEqual(["powerOff", "powerOff skipShutdown"]);
        expect(vm.lastStop).toBe("skipShutdown");
    });

    test("Deallocated releases the stopped VM", async () => {
        server.lroStyle = "azure-asyncoperation";
        const result = await engine.up(program({ powerState: "Deallocated" }));
        expect(report(result.outputs("web-power"))).toMatchObject({ from: "stopped", to: "deallocated", method: "deallocate" });
        expect(posts()).toEqual(["deallocate"]);
        expect(vm.powerState).toBe("deallocated");
    });

    test("refresh after an out-of-band start shows the drift, and the next up corrects it", async () => {
        vm.setState("running", "started in the portal");
        vm.guest = { kind: "shutsDown", afterMs: 200 };
        const refreshed = await engine.refresh();
        expect(refreshed.outputs("web-power").observedPowerState).toBe("running");
        const result = await engine.up(program({ powerState: "Deallocated" }));
        expect(result.steps.map((s) => s.op)).toEqual(["update"]);
        expect(report(result.outputs("web-power"))).toMatchObject({ method: "graceful", to: "deallocated" });
        expect(posts()).toEqual(["powerOff", "deallocate"]);
    });

    test("a wrong client secret fails the update with Entra's code and nothing else", async () => {
        const attempt = engine.up(() => {
            new GracefulVm("web", { target: target("not-the-secret-9f8e"), powerState: "On" });
        });
        await expect(attempt).rejects.toBeInstanceOf(EngineError);
        const error = (await attempt.catch((e: Error) => e)) as Error;
        expect(error.message).toMatch(/AADSTS7000215/);
        expect(error.message).not.toContain("not-the-secret-9f8e");
        expect(engine.hostLogs()).not.toContain("not-the-secret-9f8e");
        expect(posts()).toEqual([]);
    });

    test("a 409 that does not go away fails the update with ARM's code and the VM's state", async () => {
        server.inject({
            method: "POST",
            path: /\/start$/,
            status: 409,
            body: cloudError("OperationNotAllowed", "The VM is locked for maintenance."),
        });
        const attempt = engine.up(program({ powerState: "On" }));
        await expect(attempt).rejects.toBeInstanceOf(EngineError);
        const error = (await attempt.catch((e: Error) => e)) as Error;
        expect(error.message).toMatch(
            /Azure start failed with HTTP 409: OperationNotAllowed: The VM is locked for maintenance\. \(the VM is PowerState\/deallocated\)/,
        );
        expect(posts()).toEqual(["start"]);
        expect(vm.powerState).toBe("deallocated");
    });

    test("429 with Retry-After is waited out, and the VM is started once", async () => {
        server.inject({
            method: "POST",
            path: /\/start$/,
            status: 429,
            headers: { "Retry-After": "1" },
            body: cloudError("TooManyRequests", "throttled"),
        });
        const started = Date.now();
        const result = await engine.up(program({ powerState: "On" }));
        expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
        expect(report(result.outputs("web-power"))).toMatchObject({ method: "powerOn", to: "running" });
        const statuses = server
            .armRequests()
            .filter((r) => r.method === "POST")
            .map((r) => r.status);
        expect(statuses).toEqual([429, 202]);
        expect(posts()).toEqual(["start", "start"]);
        expect(engine.hostLogs()).toMatch(/ARM is throttling requests \(429\); retrying in 1s/);
    });

    test("destroy shuts the running VM down gracefully first", async () => {
        await engine.up(program({ powerState: "On" }));
        posts();
        const result = await engine.destroy();
        expect(result.steps.map((s) => s.op)).toEqual(["delete"]);
        expect(vm.powerState).toBe("stopped");
        expect(posts()).toEqual(["powerOff"]);
    });

    test("no client secret or bearer token reached the host's logs or plaintext state", () => {
        const logs = engine.hostLogs();
        expect(logs).toContain("graceful-vm:");
        expect(server.issuedTokens.length).toBeGreaterThan(0);
        for (const secret of [clientSecret, ...server.issuedTokens]) expect(logs).not.toContain(secret);
        // Tokens never get into state at all; the client secret only inside the secret `credentials`.
        for (const record of engine.state()) {
            const plaintext = JSON.stringify({ ...record.outputs, credentials: undefined });
            expect(plaintext).not.toContain(clientSecret);
            for (const token of server.issuedTokens) expect(JSON.stringify(record.raw)).not.toContain(token);
        }
    });
});
