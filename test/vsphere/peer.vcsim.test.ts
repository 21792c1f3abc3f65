import { VsphereDriver, openVsphereDriver } from "../../src/drivers/vsphere/driver";
import { VimFault } from "../../src/drivers/vsphere/faults";
import { systemClock } from "../../src/power/clock";
import { AuthenticationError, GracefulShutdownUnavailableError } from "../../src/power/errors";
import { runTransition } from "../../src/power/transition";
import { describeWithPeer } from "../helpers/peers";
import {
    Vcsim,
    callCounts,
    context,
    control,
    credentials,
    ensurePower,
    open,
    parsedTarget,
    scopedUrl,
    setBehaviour,
    vcsimEsxFrom,
    vcsimEsxVariables,
    vcsimFrom,
    vcsimVariables,
    vmStatus,
} from "./vcsim";

/**
 * The simulator's own features (test/peers/vsphere/): the SOAP call counter, VMs on demand, the
 * guest states and faults issue 18 needs, out-of-band power changes and the freeze switch. These
 * cases use VMs they create (peer-test-*), so they run beside the driver and lifecycle files.
 */
describeWithPeer("vSphere test peer: control features", "vsphere", vcsimVariables, (env) => {
    const sim: Vcsim = vcsimFrom(env);
    const vm = "peer-test-0000";
    const opened: VsphereDriver[] = [];

    async function driverFor(name = vm): Promise<VsphereDriver> {
        const driver = await open(sim, name);
        opened.push(driver);
        return driver;
    }

    async function guestProperties(driver: VsphereDriver): Promise<{ guestState?: string; tools?: string }> {
        const values = await driver.client.retrieveProperties(driver.vm, ["guest.guestState", "guest.toolsRunningStatus"]);
        return { guestState: values.get("guest.guestState")?.text, tools: values.get("guest.toolsRunningStatus")?.text };
    }

    beforeAll(async () => {
        await control(sim, "fleet", { count: 3, prefix: "peer-test" });
    });

    beforeEach(async () => {
        await setBehaviour(sim, vm, {});
        await ensurePower(sim, vm, "running");
    });

    afterEach(async () => {
        await control(sim, "freeze", { for: "0s" });
        await Promise.all(opened.splice(0).map((d) => d.close()));
    });

    test("fleet: creates the missing VMs once, powered on, with running tools", async () => {
        const again = await control<{ created: number; existing: number; first: string; last: string }>(sim, "fleet", {
            count: 3,
            prefix: "peer-test",
        });
        expect(again).toMatchObject({ created: 0, existing: 3, first: "peer-test-0000", last: "peer-test-0002" });
        expect(await vmStatus(sim, "peer-test-0002")).toMatchObject({
            powerState: "poweredOn",
            toolsRunningStatus: "guestToolsRunning",
            guestState: "running",
        });
        await expect(control(sim, "fleet", { count: "many" })).rejects.toThrow(/400.*count= must be a whole number/);
    });

    test("SOAP counter: a scope's calls by method match the client's own count; logins counted apart; reset", async () => {
        const scope = `counter-${process.pid}`;
        await control(sim, "calls/reset", { scope });
        const before = await callCounts(sim);
        const driver = await openVsphereDriver(parsedTarget(sim, vm, { url: scopedUrl(sim, scope) }), credentials(sim), context());
        await driver.readState();
        await driver.checkGuestTools();
        await driver.close();

        const counted = await callCounts(sim, scope);
        expect(counted.methods).toEqual(Object.fromEntries(driver.soapCalls));
        expect(counted.calls).toBe([...driver.soapCalls.values()].reduce((a, b) => a + b, 0));
        expect(counted).toMatchObject({ logins: 1, loginFailures: 0, faults: {} });
        // The totals include the scope's calls (and whatever other files did meanwhile).
        expect((await callCounts(sim)).calls - before.calls).toBeGreaterThanOrEqual(counted.calls);

        const wrong = openVsphereDriver(parsedTarget(sim, vm, { url: scopedUrl(sim, scope) }), credentials(sim, "Wr0ng-x7"), context());
        await expect(wrong).rejects.toBeInstanceOf(AuthenticationError);
        expect(await callCounts(sim, scope)).toMatchObject({ logins: 2, loginFailures: 1, faults: { Login: 1 } });

        const dropped = await control<{ calls: number }>(sim, "calls/reset", { scope });
        expect(dropped.calls).toBe(counted.calls + 2); // + RetrieveServiceContent and Login of the refused login
        expect(await callCounts(sim, scope)).toMatchObject({ calls: 0, logins: 0, methods: {} });
    });

    test("guestState is settable; an accepted ShutdownGuest reads shuttingDown until the guest is off", async () => {
        const driver = await driverFor();
        expect(await guestProperties(driver)).toEqual({ guestState: "running", tools: "guestToolsRunning" });

        await setBehaviour(sim, vm, { tools: "notRunning", guestState: "shuttingDown" });
        expect(await guestProperties(driver)).toEqual({ guestState: "shuttingDown", tools: "guestToolsNotRunning" });
        await setBehaviour(sim, vm, { guestState: "notRunning" });
        expect(await guestProperties(driver)).toEqual({ guestState: "notRunning", tools: "guestToolsRunning" });

        await setBehaviour(sim, vm, { delay: "2s" });
        await driver.requestGuestShutdown();
        expect(await guestProperties(driver)).toEqual({ guestState: "shuttingDown", tools: "guestToolsRunning" });
        expect(await driver.waitForState(["stopped"], systemClock.now() + 10_000)).toMatchObject({ state: "stopped" });
        expect(await guestProperties(driver)).toEqual({ guestState: "notRunning", tools: "guestToolsNotRunning" });
    });

    test("tools starting: guestToolsExecutingScripts for the set time, ShutdownGuest refused meanwhile, again after a power-on", async () => {
        const driver = await driverFor();
        await setBehaviour(sim, vm, { toolsStarting: "1500ms" });
        // The driver waits for starting tools within the deadline (driver.vcsim.test.ts), so it
        // calls them available; without a deadline the request is tried once and refused.
        expect(await driver.checkGuestTools()).toEqual({
            available: true,
            detail: "VMware Tools guestToolsExecutingScripts (toolsNotRunning), guestState notRunning; waiting for VMware Tools to start",
        });
        const refused = driver.requestGuestShutdown();
        await expect(refused).rejects.toBeInstanceOf(GracefulShutdownUnavailableError);
        await expect(refused).rejects.toMatchObject({ reason: "toolsUnavailable" });

        await systemClock.sleep(1_700);
        expect((await driver.checkGuestTools()).available).toBe(true);

        await driver.powerOffHard();
        await driver.powerOn();
        expect((await guestProperties(driver)).tools).toBe("guestToolsExecutingScripts");
    });

    test.each(["TaskInProgress", "InvalidState"] as const)(
        "ShutdownGuest answers %s for the first N calls, then the guest shuts down",
        async (fault) => {
            const driver = await driverFor();
            const status = await setBehaviour(sim, vm, { shutdownFault: fault, shutdownFaultCount: 2 });
            expect(status).toMatchObject({ shutdownFault: fault, shutdownFaultsLeft: 2 });
            for (let i = 0; i < 2; i++) {
                const attempt = driver.client.shutdownGuest(driver.vm);
                await expect(attempt).rejects.toBeInstanceOf(VimFault);
                await expect(attempt).rejects.toMatchObject({ faultType: fault });
            }
            await driver.client.shutdownGuest(driver.vm);
            expect(await driver.waitForState(["stopped"], systemClock.now() + 10_000)).toMatchObject({ state: "stopped" });
            expect(driver.soapCalls.get("ShutdownGuest")).toBe(3);
        },
    );

    test("out-of-band power: off now, on after a delay; the driver sees both", async () => {
        const driver = await driverFor();
        expect(await control(sim, "power", { name: vm, state: "off" })).toMatchObject({ powerState: "poweredOff" });
        expect((await driver.readState()).state).toBe("stopped");
        await expect(control(sim, "power", { name: vm, state: "off" })).rejects.toThrow(/409.*already poweredOff/);

        expect(await control(sim, "power", { name: vm, state: "on", after: "300ms" })).toMatchObject({ after: "300ms" });
        expect((await driver.readState()).state).toBe("stopped");
        expect(await driver.waitForState(["running"], systemClock.now() + 10_000)).toMatchObject({ state: "running" });
        expect(driver.soapCalls.get("PowerOnVM_Task") ?? 0).toBe(0);
    });

    test("freeze: SOAP calls wait while the control endpoint answers; lifting it releases them", async () => {
        const driver = await driverFor();
        await control(sim, "freeze", { for: "30s" });
        let answered = false;
        const read = driver.readState().then((s) => {
            answered = true;
            return s;
        });
        await systemClock.sleep(500);
        expect(answered).toBe(false);
        expect(await control(sim, "about", {}, "GET")).toMatchObject({ mode: "vpx" });
        await control(sim, "freeze", { for: "0s" });
        expect((await read).state).toBe("running");
        await expect(control(sim, "freeze", { for: "soon" })).rejects.toThrow(/400/);
    });

    test("bad control input: HTTP 400 naming the field, 404 for an unknown VM", async () => {
        await expect(control(sim, "vm", { name: vm, guestState: "asleep" })).rejects.toThrow(/400.*guestState="asleep"/);
        await expect(control(sim, "vm", { name: vm, shutdownFault: "Oops" })).rejects.toThrow(/400.*shutdownFault="Oops"/);
        await expect(control(sim, "vm", { name: "no-such-vm", tools: "running" })).rejects.toThrow(/404/);
        await expect(control(sim, "power", { name: vm, state: "sideways" })).rejects.toThrow(/400.*state="sideways"/);
    });
});

/**
 * The same simulator as a standalone ESXi host: ha-* managers, ha-datacenter, ha-host. Uses a VM
 * of its own (peer-esx-0000), so the model's ha-host_VM0..3 stay free for other test files.
 */
describeWithPeer("vSphere driver against the simulator in ESXi mode", "vsphere", vcsimEsxVariables, (env) => {
    const sim: Vcsim = vcsimEsxFrom(env);
    const vm = "peer-esx-0000";

    beforeAll(async () => {
        await control(sim, "fleet", { count: 1, prefix: "peer-esx" });
    });

    beforeEach(async () => {
        await setBehaviour(sim, vm, {});
        await ensurePower(sim, vm, "running");
    });

    test("the control endpoint says esx; the model's own VMs are ha-host_VM0..3", async () => {
        expect(await control(sim, "about", {}, "GET")).toMatchObject({ mode: "esx" });
        const model = await control<{ vms: Array<{ name: string }> }>(sim, "vms", { prefix: "ha-host_VM" }, "GET");
        expect(model.vms.map((v) => v.name)).toEqual(["ha-host_VM0", "ha-host_VM1", "ha-host_VM2", "ha-host_VM3"]);
    });

    test("login, find the VM by name, power it off hard and on again through openVsphereDriver", async () => {
        const driver = await open(sim, vm);
        try {
            expect(driver.vmDescription).toMatch(/^vsphere 127\.0\.0\.1:\d+ VM peer-esx-0000 \(vm-\d+\)$/);
            expect((await driver.readState()).state).toBe("running");
            await driver.powerOffHard();
            expect((await driver.readState()).state).toBe("stopped");
            expect(await vmStatus(sim, vm)).toMatchObject({ powerState: "poweredOff", moid: driver.vm.value });
            await driver.powerOn();
            expect((await driver.readState()).state).toBe("running");
        } finally {
            await driver.close();
        }
    });

    test("the inventory path and the datacenter ha-datacenter find the same VM", async () => {
        const byName = await open(sim, vm);
        const byPath = await open(sim, `ha-datacenter/vm/${vm}`);
        const inDatacenter = await openVsphereDriver(parsedTarget(sim, vm, { datacenter: "ha-datacenter" }), credentials(sim), context());
        try {
            expect(byPath.vm).toEqual(byName.vm);
            expect(inDatacenter.vm).toEqual(byName.vm);
        } finally {
            await Promise.all([byName.close(), byPath.close(), inDatacenter.close()]);
        }
    });

    test("a graceful stop through VMware Tools, as on vCenter", async () => {
        const driver = await open(sim, vm);
        try {
            const report = await runTransition(driver, systemClock, { desired: "OffGraceful", gracefulTimeoutMs: 10_000 });
            expect(report).toMatchObject({ from: "running", to: "stopped", method: "graceful", gracefulMethod: "vmware-tools" });
            expect(driver.soapCalls.get("PowerOffVM_Task") ?? 0).toBe(0);
        } finally {
            await driver.close();
        }
    });
});
