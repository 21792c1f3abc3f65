import { ProxmoxApiError, ProxmoxNodeDownError, ProxmoxPermissionError, ProxmoxStopBlockedError } from "../../src/drivers/proxmox/errors";
import { ProxmoxDriver } from "../../src/drivers/proxmox/driver";
import { systemClock } from "../../src/power/clock";
import { VmNotFoundError } from "../../src/power/errors";
import { TransitionReport } from "../../src/power/report";
import { TransitionRequest, runTransition } from "../../src/power/transition";
import { PveFixture, fastOptions, startPve } from "./setup";

/**
 * The driver against the contract server behaving as real clusters do: HA resources stopped
 * by the HA manager on its own terms, overrule-shutdown limited by Sys.Modify, privileges that
 * differ between PVE 8 and 9, a node that is down, a VM that migrated, a silent guest agent.
 */

/** HA rounds of 100 ms instead of about 10 s; the driver's bound on HA shrinks to match. */
const haOptions = { ...fastOptions, haGraceMs: 2_000 };

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

function ourPosts(pve: PveFixture, vmid: number): string[] {
    return pve.server.requests
        .filter((r) => r.method === "POST" && r.path.includes(`/qemu/${vmid}/`))
        .map((r) => r.path.replace(/^.*\/qemu\/\d+\//, ""));
}

describe("HA-managed VMs: stopped through the HA manager", () => {
    let pve: PveFixture;
    beforeAll(async () => {
        pve = await startPve({ haRoundMs: 100 });
    });
    afterAll(async () => {
        await pve.server.stop();
    });

    test("graceful: the shutdown is a request HA carries out later; the report says so", async () => {
        const vm = pve.server.addVm({ vmid: 501, haManaged: true, shutdownDelayMs: 300 });
        const report = await transition(pve.driver(501, {}, haOptions), { desired: "OffGraceful" });
        expect(report).toMatchObject({ method: "graceful", gracefulMethod: "pve-ha-stop", to: "stopped" });
        expect(report.guestTools).toMatch(/^HA-managed \(ha\.state started\): the shutdown is a request to the HA manager/);
        // Our task only queued the request; the shutdown itself is HA's (as root@pam), with our timeout and forceStop.
        expect(pve.server.tasksOf(501).map((t) => `${t.type} ${t.authId}`)).toEqual([
            "hastop automation@pve!pulumi",
            "qmshutdown root@pam",
        ]);
        expect(pve.server.haRequests.filter((r) => r.vmid === 501)).toEqual([
            expect.objectContaining({ command: "stop", timeoutS: 5, outcome: "carried out" }),
        ]);
        await pve.server.tasksOf(501, "qmshutdown")[0].done;
        expect(vm.haState).toBe("stopped");
        expect(pve.logs.some((l) => l.includes("requested an HA stop") && l.includes("timeout 5s and then forces it off"))).toBe(true);
    });

    test("a hung guest: no second stop is sent while HA runs its own; HA forces it after its timeout", async () => {
        const vm = pve.server.addVm({ vmid: 502, haManaged: true, shutdownDelayMs: "never", agentConfigured: false });
        const report = await transition(pve.driver(502, {}, haOptions), { desired: "OffGraceful", gracefulTimeoutMs: 1_000 });
        expect(report).toMatchObject({ method: "forced", fallbackReason: "timeout", to: "stopped" });
        expect(ourPosts(pve, 502)).toEqual(["status/shutdown"]);
        const haShutdown = pve.server.tasksOf(502, "qmshutdown")[0];
        expect(haShutdown.authId).toBe("root@pam");
        expect(haShutdown.exitstatus).toBe("WARNINGS: 1");
        expect(haShutdown.log).toContain("WARN: VM still running - terminating now with SIGTERM");
        expect(vm.running).toBe(false);
        expect(pve.logs.some((l) => l.includes("HA is still carrying out our stop (timeout 1s, then forceStop)"))).toBe(true);
    });

    test("a hard Off asks HA for a stop with timeout 0 (no overrule-shutdown) and waits for HA to do it", async () => {
        pve.server.addVm({ vmid: 503, haManaged: true });
        const report = await transition(pve.driver(503, {}, haOptions), { desired: "Off" });
        expect(report).toMatchObject({ method: "forced", to: "stopped" });
        const stop = pve.server.requests.find((r) => r.path.endsWith("/qemu/503/status/stop"));
        expect(stop?.parameters).toEqual({ node: "pve1", vmid: "503" });
        expect(pve.server.haRequests.filter((r) => r.vmid === 503)).toEqual([expect.objectContaining({ command: "stop", timeoutS: 0 })]);
        expect(pve.server.tasksOf(503).map((t) => t.type)).toEqual(["hastop", "qmstop"]);
    });

    test("HA that never stops the VM within its timeout and rounds: an error naming ha.state", async () => {
        pve.server.addVm({ vmid: 504, haManaged: true, shutdownDelayMs: "never", agentConfigured: false });
        const slowHa = await startPve({ haRoundMs: 60_000 });
        try {
            slowHa.server.addVm({ vmid: 504, haManaged: true, shutdownDelayMs: "never", agentConfigured: false });
            const failure = await transition(slowHa.driver(504, {}, { ...fastOptions, haGraceMs: 500 }), {
                desired: "OffGraceful",
                gracefulTimeoutMs: 1_000,
            }).catch((e: unknown) => e);
            expect(String(failure)).toMatch(/is HA-managed and still running \(ha\.state started\)/);
            expect(slowHa.server.haRequests.map((r) => r.outcome)).toEqual(["queued"]);
        } finally {
            await slowHa.server.stop();
        }
    });

    test("an HA stop already under way (ha.state request_stop): nothing more is sent; we wait for HA", async () => {
        const vm = pve.server.addVm({ vmid: 506, haManaged: true, shutdownDelayMs: 1_000, agentConfigured: false });
        const gui = pve.server.addToken({ id: "admin@pve!gui", secret: "3e3e3e3e-1111-4222-8333-444455556666" });
        const other = pve.driver(506, {}, haOptions, gui);
        await other.requestGuestShutdown(Date.now() + 30_000).finally(() => other.close());
        await until(() => vm.haState === "request_stop");
        const report = await transition(pve.driver(506, {}, haOptions), { desired: "OffGraceful" });
        expect(report).toMatchObject({ method: "graceful", gracefulMethod: "pve-ha-stop", to: "stopped" });
        expect(report.guestTools).toMatch(/^HA-managed \(ha\.state request_stop\)/);
        expect(pve.server.requests.filter((r) => r.method === "POST" && r.path.includes("/qemu/506/"))).toHaveLength(1); // only the other token's
        expect(pve.logs).toContain(
            `proxmox ${pve.server.endpoint} node pve1 VM 506: HA is already stopping this VM (ha.state request_stop); not requesting another stop`,
        );
    });

    test("on: the start is a request to HA, carried out a round later", async () => {
        const vm = pve.server.addVm({ vmid: 505, haManaged: true, status: "stopped" });
        const report = await transition(pve.driver(505, {}, haOptions), { desired: "On" });
        expect(report).toMatchObject({ method: "powerOn", to: "running" });
        expect(pve.server.tasksOf(505).map((t) => `${t.type} ${t.authId}`)).toEqual(["hastart automation@pve!pulumi", "qmstart root@pam"]);
        expect(vm.haState).toBe("started");
    });
});

describe("overrule-shutdown and Sys.Modify", () => {
    let pve: PveFixture;
    beforeAll(async () => {
        pve = await startPve({ configLockTimeoutMs: 300 });
    });
    afterAll(async () => {
        await pve.server.stop();
    });

    async function someoneElsesShutdown(vmid: number): Promise<void> {
        const gui = pve.server.addToken({ id: "admin@pve!gui", secret: "0b8e2d4f-aaaa-4bbb-8ccc-ddddeeeeffff" });
        const other = pve.driver(vmid, {}, fastOptions, gui);
        await other.requestGuestShutdown(Date.now() + 60_000).finally(() => other.close());
    }

    test("without Sys.Modify the stop cannot abort another user's shutdown: the error names the privilege", async () => {
        pve.server.addVm({ vmid: 511, shutdownDelayMs: "never" });
        await someoneElsesShutdown(511);
        const driver = pve.driver(511);
        const failure = await driver
            .powerOffHard()
            .catch((e: unknown) => e)
            .finally(() => driver.close());
        expect(failure).toBeInstanceOf(ProxmoxStopBlockedError);
        expect((failure as Error).message).toContain("can't lock file '/var/lock/qemu-server/lock-511.conf' - got timeout");
        expect((failure as Error).message).toContain("Sys.Modify on /nodes/pve1 would let it abort that one too");
        expect(pve.server.vms.get(511)?.running).toBe(true);
        expect(pve.server.tasksOf(511, "qmshutdown")[0].status).toBe("running");
    });

    test("with Sys.Modify the stop aborts it and the VM stops", async () => {
        pve.server.addVm({ vmid: 512, shutdownDelayMs: "never" });
        await someoneElsesShutdown(512);
        const admin = pve.server.addToken({
            id: "ops@pve!pulumi",
            secret: "5d1c7a9e-1234-4abc-9def-0123456789ab",
            privileges: ["VM.Audit", "VM.PowerMgmt", "Sys.Modify"],
        });
        const driver = pve.driver(512, {}, fastOptions, admin);
        await driver.powerOffHard().finally(() => driver.close());
        expect(pve.server.vms.get(512)?.running).toBe(false);
        expect(pve.server.tasksOf(512, "qmshutdown")[0].exitstatus).toBe("received interrupt");
    });

    test("our own shutdown is overruled without Sys.Modify", async () => {
        pve.server.addVm({ vmid: 513, shutdownDelayMs: "never", agentConfigured: false });
        const report = await transition(pve.driver(513), { desired: "OffGraceful", gracefulTimeoutMs: 1_000 });
        expect(report).toMatchObject({ method: "forced", to: "stopped" });
        expect(pve.server.tasksOf(513, "qmstop")[0].exitstatus).toBe("OK");
    });
});

describe.each([
    ["8", "VM.Monitor"],
    ["9", "VM.GuestAgent.Audit"],
] as const)("privileges on PVE %s", (major, agentPrivilege) => {
    let pve: PveFixture;
    beforeAll(async () => {
        pve = await startPve({ pveVersion: major });
    });
    afterAll(async () => {
        await pve.server.stop();
    });

    test(`waiting for the guest agent needs ${agentPrivilege}; the error says so for PVE ${major}`, async () => {
        pve.server.addVm({ vmid: 521, status: "stopped" });
        const token = pve.server.addToken({
            id: "automation@pve!lean",
            secret: "4a4a4a4a-1111-4222-8333-444455556666",
            privileges: ["VM.Audit", "VM.PowerMgmt"],
        });
        const failure = await transition(pve.driver(521, {}, fastOptions, token), { desired: "On", waitForGuestAgent: true }).catch(
            (e: unknown) => e,
        );
        expect(failure).toBeInstanceOf(ProxmoxPermissionError);
        expect((failure as ProxmoxPermissionError).privilege).toBe(agentPrivilege);
        expect((failure as Error).message).toContain(`the token lacks ${agentPrivilege} on /vms/521`);
        expect((failure as Error).message).toContain(`Proxmox VE ${major} needs VM.Audit and VM.PowerMgmt on /vms/521`);
        expect((failure as Error).message).toContain(`optionally ${agentPrivilege} on /vms/521 to ping the guest agent`);
    });

    test(`with ${agentPrivilege} the agent wait works`, async () => {
        pve.server.addVm({ vmid: 522, status: "stopped" });
        const token = pve.server.addToken({
            id: "automation@pve!full",
            secret: "5b5b5b5b-1111-4222-8333-444455556666",
            privileges: ["VM.Audit", "VM.PowerMgmt", agentPrivilege],
        });
        const report = await transition(pve.driver(522, {}, fastOptions, token), { desired: "On", waitForGuestAgent: true });
        expect(report).toMatchObject({ to: "running" });
    });

    test("a token without VM.PowerMgmt: the 403 names it and the version's list", async () => {
        pve.server.addVm({ vmid: 523 });
        const token = pve.server.addToken({
            id: "viewer@pve!ro",
            secret: "6c6c6c6c-1111-4222-8333-444455556666",
            privileges: ["VM.Audit"],
        });
        const failure = await transition(pve.driver(523, {}, fastOptions, token), { desired: "Off" }).catch((e: unknown) => e);
        expect((failure as ProxmoxPermissionError).privilege).toBe("VM.PowerMgmt");
        expect((failure as Error).message).toContain(`Proxmox VE ${major} needs`);
    });
});

describe("a node that is down, and a VM that moved", () => {
    let pve: PveFixture;
    beforeAll(async () => {
        pve = await startPve({ nodes: ["pve1", "pve2"] });
    });
    afterAll(async () => {
        await pve.server.stop();
    });

    test.each([595, 596] as const)("HTTP %d from the proxy: a node-down error with the reason phrase", async (status) => {
        pve.server.addVm({ vmid: 531, node: "pve2" });
        pve.server.setNodeDown("pve2", { status });
        try {
            const driver = pve.driver(531, { node: "pve2" });
            const failure = await driver
                .readState()
                .catch((e: unknown) => e)
                .finally(() => driver.close());
            expect(failure).toBeInstanceOf(ProxmoxNodeDownError);
            expect(failure).toBeInstanceOf(ProxmoxApiError);
            const reason = status === 595 ? "No route to host" : "Connection timed out";
            expect((failure as Error).message).toContain(`node pve2 does not answer (HTTP ${status}: ${reason}, from the cluster's proxy)`);
        } finally {
            pve.server.setNodeUp("pve2");
        }
    });

    test("a VM that HA recovered on another node while its node is down is followed there", async () => {
        pve.server.addVm({ vmid: 532, node: "pve2", shutdownDelayMs: 200 });
        pve.server.setNodeDown("pve2");
        pve.server.migrateVm(532, "pve1");
        try {
            const report = await transition(pve.driver(532, { node: "pve2" }), { desired: "OffGraceful" });
            expect(report).toMatchObject({ method: "graceful", to: "stopped" });
            expect(pve.logs).toContain(
                "proxmox " + pve.server.endpoint + " node pve2 VM 532: the VM is on node pve1 now (cluster resources); using that node",
            );
        } finally {
            pve.server.setNodeUp("pve2");
        }
    });

    test("a VM migrated to another node is found through /cluster/resources, not reported deleted", async () => {
        pve.server.addVm({ vmid: 533, node: "pve2", shutdownDelayMs: 200 });
        const report = await transition(pve.driver(533, { node: "pve1" }), { desired: "OffGraceful" });
        expect(report).toMatchObject({ method: "graceful", to: "stopped" });
        expect(pve.server.requests.some((r) => r.path === "/api2/json/cluster/resources")).toBe(true);
        expect(pve.server.requests.some((r) => r.method === "POST" && r.path.includes("/nodes/pve2/qemu/533/status/shutdown"))).toBe(true);
    });

    test("a VM that is nowhere in the cluster is VmNotFoundError", async () => {
        const failure = await transition(pve.driver(539), { desired: "OffGraceful" }).catch((e: unknown) => e);
        expect(failure).toBeInstanceOf(VmNotFoundError);
    });
});

describe("an agent that is enabled but silent", () => {
    let pve: PveFixture;
    beforeAll(async () => {
        pve = await startPve(); // PVE's own 3 s guest-ping timeout
    });
    afterAll(async () => {
        await pve.server.stop();
    });

    test("PVE spends its 3 s ping, sends ACPI, and the task ends WARNINGS: 1: still a graceful stop", async () => {
        const vm = pve.server.addVm({ vmid: 541, agentConfigured: true, agentInstalled: false, shutdownDelayMs: 200 });
        const asked = Date.now();
        const report = await transition(pve.driver(541), { desired: "OffGraceful", gracefulTimeoutMs: 10_000 });
        expect(report).toMatchObject({ method: "graceful", gracefulMethod: "pve-shutdown", to: "stopped" });
        expect(vm.shutdownRequests).toEqual(["acpi"]);
        const task = pve.server.tasksOf(541, "qmshutdown")[0];
        await task.done;
        expect(task.exitstatus).toBe("WARNINGS: 1");
        expect(task.log[0]).toBe("WARN: QEMU Guest Agent is not running - VM 541 qmp command 'guest-ping' failed - got timeout");
        expect(vm.history.at(-1)!.at - asked).toBeGreaterThanOrEqual(3_000);
    });
});

async function until(condition: () => boolean): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (!condition()) {
        if (Date.now() > deadline) throw new Error("condition not met within 10 s");
        await new Promise((r) => setTimeout(r, 20));
    }
}
