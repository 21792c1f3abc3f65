import * as net from "net";
import { ProxmoxApiError, ProxmoxTlsError, ProxmoxUnreachableError, ProxmoxVmLockedError } from "../../src/drivers/proxmox/errors";
import { ProxmoxDriver } from "../../src/drivers/proxmox/driver";
import { systemClock } from "../../src/power/clock";
import { AuthenticationError, PowerTransitionError, VmNotFoundError } from "../../src/power/errors";
import { TransitionReport } from "../../src/power/report";
import { TransitionRequest, runTransition } from "../../src/power/transition";
import { PveFixture, apiToken, fastOptions, startPve, tokenSecret } from "./setup";

let pve: PveFixture;

beforeAll(async () => {
    pve = await startPve();
});

afterAll(async () => {
    await pve.server.stop();
});

async function transition(
    driver: ProxmoxDriver,
    request: Partial<TransitionRequest> & Pick<TransitionRequest, "desired">,
): Promise<TransitionReport> {
    try {
        return await runTransition(driver, systemClock, { gracefulTimeoutMs: 5_000, verifyTimeoutMs: 5_000, ...request });
    } finally {
        await driver.close();
    }
}

function posts(vmid: number): string[] {
    return pve.server.requests
        .filter((r) => r.method === "POST" && r.path.includes(`/qemu/${vmid}/`))
        .map((r) => r.path.replace(/^.*\/qemu\/\d+\//, ""));
}

describe("Proxmox driver against the contract server", () => {
    test("graceful success with the guest agent: one shutdown request, no stop", async () => {
        const vm = pve.server.addVm({ vmid: 201, agentConfigured: true, shutdownDelayMs: 400 });
        const report = await transition(pve.driver(201), { desired: "OffGraceful" });
        expect(report).toMatchObject({ from: "running", to: "stopped", method: "graceful", gracefulMethod: "pve-shutdown" });
        expect(report.fallbackReason).toBeUndefined();
        expect(report.guestTools).toContain("guest agent enabled");
        expect(vm.shutdownRequests).toEqual(["agent"]);
        expect(posts(201)).toEqual(["status/shutdown"]);
        // Our deadline (5 s) went to PVE as the task's own timeout, in whole seconds.
        expect(pve.server.requests.find((r) => r.path.endsWith("/qemu/201/status/shutdown"))?.parameters).toMatchObject({ timeout: "5" });
    });

    test("graceful success without an agent: ACPI power button", async () => {
        const vm = pve.server.addVm({ vmid: 202, agentConfigured: false, shutdownDelayMs: 300 });
        const report = await transition(pve.driver(202), { desired: "OffGraceful" });
        expect(report).toMatchObject({ method: "graceful", to: "stopped" });
        expect(report.guestTools).toContain("not enabled");
        expect(vm.shutdownRequests).toEqual(["acpi"]);
    });

    test("hung guest: forced at the deadline with overrule-shutdown, which aborts the pending shutdown task", async () => {
        const vm = pve.server.addVm({ vmid: 203, shutdownDelayMs: "never" });
        const started = Date.now();
        const report = await transition(pve.driver(203), { desired: "OffGraceful", gracefulTimeoutMs: 1_500 });
        const elapsed = Date.now() - started;
        expect(report).toMatchObject({ method: "forced", fallbackReason: "timeout", to: "stopped" });
        expect(elapsed).toBeGreaterThanOrEqual(1_500);
        expect(elapsed).toBeLessThan(4_000);
        expect(posts(203)).toEqual(["status/shutdown", "status/stop"]);
        const stop = pve.server.requests.find((r) => r.path.endsWith("/qemu/203/status/stop"));
        expect(stop?.parameters).toEqual({ node: "pve1", vmid: "203", "overrule-shutdown": "1" });
        expect(vm.history.at(-1)?.how).toBe("stop (QMP quit)");
        const [shutdownTask] = pve.server.tasksOf(203, "qmshutdown");
        await shutdownTask.done;
        expect(["received interrupt", "VM quit/powerdown failed - got timeout"]).toContain(shutdownTask.exitstatus);
    });

    test("shutdown task failure (agent command error): falls back at once, not at the deadline", async () => {
        pve.server.addVm({ vmid: 204, agentShutdownFails: true });
        const started = Date.now();
        const report = await transition(pve.driver(204), { desired: "OffGraceful", gracefulTimeoutMs: 20_000 });
        expect(Date.now() - started).toBeLessThan(3_000);
        expect(report).toMatchObject({ method: "forced", fallbackReason: "gracefulRequestFailed", to: "stopped" });
        expect(report.fallbackDetail).toContain("VM quit/powerdown failed");
        // The task log's reason travels with the error.
        expect(report.fallbackDetail).toContain("Guest agent command failed");
    });

    test("task failure with forcing disabled: the transition fails and the VM keeps running", async () => {
        const vm = pve.server.addVm({ vmid: 205, agentShutdownFails: true });
        const failure = await transition(pve.driver(205), { desired: "OffGraceful", force: false }).catch((e: unknown) => e);
        expect(failure).toBeInstanceOf(PowerTransitionError);
        expect((failure as Error).message).toContain("forcing is disabled");
        expect(vm.running).toBe(true);
        expect(posts(205)).toEqual(["status/shutdown"]);
    });

    test("locked VM: a clear error naming the lock, before any request that changes it", async () => {
        const vm = pve.server.addVm({ vmid: 206, lock: "backup" });
        const graceful = await transition(pve.driver(206), { desired: "OffGraceful" }).catch((e: unknown) => e);
        expect(graceful).toBeInstanceOf(ProxmoxVmLockedError);
        expect((graceful as Error).message).toContain("is locked (backup)");
        expect(posts(206)).toEqual([]);
        const hard = await transition(pve.driver(206), { desired: "Off" }).catch((e: unknown) => e);
        expect(hard).toBeInstanceOf(ProxmoxVmLockedError);
        expect((hard as ProxmoxVmLockedError).lock).toBe("backup");
        expect(vm.running).toBe(true);
    });

    test("paused VM: no graceful request (PVE would refuse it); stopped hard, reason guestFrozen", async () => {
        pve.server.addVm({ vmid: 207, qmpstatus: "paused" });
        const driver = pve.driver(207);
        expect((await driver.readState()).state).toBe("paused");
        const report = await transition(driver, { desired: "OffGraceful" });
        expect(report).toMatchObject({ from: "paused", to: "stopped", method: "forced", fallbackReason: "guestFrozen" });
        expect(posts(207)).toEqual(["status/stop"]);
    });

    test("paused VM and On: resumed, not started", async () => {
        const vm = pve.server.addVm({ vmid: 208, qmpstatus: "paused" });
        const report = await transition(pve.driver(208), { desired: "On" });
        expect(report).toMatchObject({ from: "paused", to: "running", method: "powerOn" });
        expect(posts(208)).toEqual(["status/resume"]);
        expect(vm.qmpstatus).toBe("running");
    });

    test("a hibernated VM (lock: suspended) counts as stopped; On starts it, which resumes it", async () => {
        const vm = pve.server.addVm({ vmid: 216, status: "stopped", lock: "suspended" });
        const off = await transition(pve.driver(216), { desired: "OffGraceful" });
        expect(off).toMatchObject({ method: "none", to: "stopped", stateDetail: "status=stopped lock=suspended" });
        const on = await transition(pve.driver(216), { desired: "On" });
        expect(on).toMatchObject({ from: "stopped", to: "running", method: "powerOn" });
        expect(posts(216)).toEqual(["status/start"]);
        expect(vm.history.at(-1)?.how).toBe("resumed from disk");
        expect(vm.lock).toBeUndefined();
    });

    test("already stopped: nothing is sent", async () => {
        pve.server.addVm({ vmid: 209, status: "stopped" });
        for (const desired of ["OffGraceful", "Off"] as const) {
            const report = await transition(pve.driver(209), { desired });
            expect(report).toMatchObject({ method: "none", from: "stopped", to: "stopped" });
        }
        expect(posts(209)).toEqual([]);
    });

    test("power on, then wait for the guest agent", async () => {
        const vm = pve.server.addVm({ vmid: 210, status: "stopped", agentBootDelayMs: 300 });
        const report = await transition(pve.driver(210), { desired: "On", waitForGuestAgent: true });
        expect(report).toMatchObject({ from: "stopped", to: "running", method: "powerOn" });
        expect(report.phases.map((p) => p.phase)).toContain("agentWait");
        expect(posts(210)).toEqual(expect.arrayContaining(["status/start", "agent/ping"]));
        expect(vm.agentRunning).toBe(true);
    });

    test("Off powers off hard without asking the guest", async () => {
        const vm = pve.server.addVm({ vmid: 211 });
        const report = await transition(pve.driver(211), { desired: "Off" });
        expect(report).toMatchObject({ method: "forced", to: "stopped" });
        expect(vm.shutdownRequests).toEqual([]);
        expect(posts(211)).toEqual(["status/stop"]);
    });

    test("an older PVE without overrule-shutdown: the stop is retried without the flag", async () => {
        const older = await startPve({ unsupportedParameters: ["overrule-shutdown"] });
        try {
            const vm = older.server.addVm({ vmid: 212 });
            const report = await transition(older.driver(212), { desired: "Off" });
            expect(report).toMatchObject({ method: "forced", to: "stopped" });
            expect(older.server.requests.filter((r) => r.method === "POST").map((r) => r.status)).toEqual([400, 200]);
            expect(older.logs.join("\n")).toContain("does not support overrule-shutdown");
            expect(vm.running).toBe(false);
        } finally {
            await older.server.stop();
        }
    });

    test("a failed status read while waiting is retried (up to 3 in a row), not fatal", async () => {
        pve.server.addVm({ vmid: 213, shutdownDelayMs: 300 });
        const failure = { method: "GET", pathSuffix: "/qemu/213/status/current", status: 595, message: "Connection timed out" };
        pve.server.injectedFailures.push(failure, { ...failure });
        const driver = pve.driver(213);
        const state = await driver.waitForState(["running"], Date.now() + 2_000).finally(() => driver.close());
        expect(state.state).toBe("running");
        expect(pve.logs.filter((l) => l.includes("retrying") && l.includes("HTTP 595: Connection timed out"))).toHaveLength(2);
        expect(pve.server.injectedFailures).toHaveLength(0);
    });

    test("three failed status reads in a row (a brief outage) are waited out: the wait never throws for them", async () => {
        pve.server.addVm({ vmid: 215 });
        const failure = { method: "GET", pathSuffix: "/qemu/215/status/current", status: 595, message: "Connection timed out" };
        pve.server.injectedFailures.push(failure, { ...failure }, { ...failure });
        const driver = pve.driver(215);
        const state = await driver.waitForState(["stopped"], Date.now() + 5_000).finally(() => driver.close());
        expect(state.state).toBe("running");
        expect(pve.server.injectedFailures).toHaveLength(0);
    });

    test("an unknown node is a clear error from PVE's proxy", async () => {
        const driver = pve.driver(201, { node: "pve9" });
        const failure = await driver.readState().catch((e: unknown) => e);
        await driver.close();
        expect(failure).toBeInstanceOf(ProxmoxApiError);
        expect((failure as Error).message).toContain("pve9");
    });

    test("a missing VM is VmNotFoundError", async () => {
        const failure = await transition(pve.driver(299), { desired: "OffGraceful" }).catch((e: unknown) => e);
        expect(failure).toBeInstanceOf(VmNotFoundError);
        expect((failure as Error).message).toContain("299.conf' does not exist");
    });
});

describe("Proxmox authentication and transport", () => {
    test("a bad token: AuthenticationError after one request (no retry), without the secret", async () => {
        pve.server.addVm({ vmid: 220 });
        const before = pve.server.requests.length;
        const wrongSecret = "0badc0de-0000-4000-8000-000000000000";
        const failure = await transition(pve.driver(220, {}, undefined, `automation@pve!pulumi=${wrongSecret}`), { desired: "Off" }).catch(
            (e: unknown) => e,
        );
        expect(failure).toBeInstanceOf(AuthenticationError);
        expect((failure as Error).message).toContain("HTTP 401");
        expect((failure as Error).message).not.toContain(wrongSecret);
        expect(pve.server.requests.length - before).toBe(1);
        expect(pve.server.vms.get(220)?.running).toBe(true);
    });

    test("a token without power permission: AuthenticationError (403) naming the privilege", async () => {
        pve.server.addVm({ vmid: 221 });
        const readOnly = pve.server.addToken({
            id: "viewer@pve!ro",
            secret: "7e3a0c52-1111-4a4a-9c9c-abcdefabcdef",
            privileges: ["VM.Audit"],
        });
        const failure = await transition(pve.driver(221, {}, undefined, readOnly), { desired: "Off" }).catch((e: unknown) => e);
        expect(failure).toBeInstanceOf(AuthenticationError);
        expect((failure as Error).message).toContain("VM.PowerMgmt");
    });

    test("an unreachable endpoint is a clear error", async () => {
        const driver = pve.driver(201, { endpoint: "https://127.0.0.1:1" });
        const failure = await driver.readState().catch((e: unknown) => e);
        await driver.close();
        expect(failure).toBeInstanceOf(ProxmoxUnreachableError);
        expect((failure as Error).message).toMatch(/^cannot reach Proxmox VE at https:\/\/127\.0\.0\.1:1: .*ECONNREFUSED/);
    });

    test("a server that accepts but never answers times out, pinned or not", async () => {
        const accepted: net.Socket[] = [];
        const silent = net.createServer((socket) => void accepted.push(socket));
        await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
        const endpoint = `https://127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
        try {
            for (const overrides of [{ endpoint }, { endpoint, fingerprint: undefined, caCert: pve.server.certificate.cert }]) {
                const driver = pve.driver(201, overrides, { ...fastOptions, requestTimeoutMs: 300 });
                const started = Date.now();
                const failure = await driver.readState().catch((e: unknown) => e);
                await driver.close();
                expect(failure).toBeInstanceOf(ProxmoxUnreachableError);
                expect((failure as Error).message).toMatch(/within 300 ms/);
                expect(Date.now() - started).toBeLessThan(2_000);
            }
        } finally {
            accepted.forEach((socket) => socket.destroy());
            silent.close();
        }
    });

    test("TLS: verified by default, so a self-signed node without caCert/fingerprint is refused", async () => {
        pve.server.addVm({ vmid: 222 });
        const driver = pve.driver(222, { fingerprint: undefined });
        const failure = await driver.readState().catch((e: unknown) => e);
        await driver.close();
        expect(failure).toBeInstanceOf(ProxmoxTlsError);
        expect((failure as Error).message).toContain("caCert");
    });

    test("TLS: a CA bundle, a pinned fingerprint, or insecure each connect", async () => {
        pve.server.addVm({ vmid: 223, status: "stopped" });
        for (const overrides of [
            { fingerprint: undefined, caCert: pve.server.certificate.cert },
            {},
            { fingerprint: undefined, insecure: true },
        ]) {
            const driver = pve.driver(223, overrides);
            expect((await driver.readState()).state).toBe("stopped");
            await driver.close();
        }
    });

    test("TLS: a wrong fingerprint is refused before the token is sent", async () => {
        const before = pve.server.requests.length;
        const wrong = Array.from({ length: 32 }, () => "AB").join(":");
        const driver = pve.driver(223, { fingerprint: wrong });
        const failure = await driver.readState().catch((e: unknown) => e);
        await driver.close();
        expect(failure).toBeInstanceOf(ProxmoxTlsError);
        expect((failure as Error).message).toContain("does not match the pinned");
        expect(pve.server.requests.length).toBe(before);
    });

    test("the token never reaches the driver's log lines", async () => {
        pve.server.addVm({ vmid: 224, shutdownDelayMs: 200 });
        await transition(pve.driver(224), { desired: "OffGraceful" });
        expect(pve.logs.length).toBeGreaterThan(0);
        expect(pve.logs.join("\n")).not.toContain(tokenSecret);
        expect(apiToken).toContain(tokenSecret);
    });

    test("a 400 from the API is a ProxmoxApiError carrying the parameter errors", async () => {
        const driver = pve.driver(201);
        const failure = await driver.client.post("/nodes/pve1/qemu/201/status/stop", { force: true }).catch((e: unknown) => e);
        await driver.close();
        expect(failure).toBeInstanceOf(ProxmoxApiError);
        expect((failure as ProxmoxApiError).status).toBe(400);
        expect((failure as Error).message).toContain("force: property is not defined in schema");
    });
});
