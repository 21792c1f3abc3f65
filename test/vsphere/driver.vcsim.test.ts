import { exitCodeFor, exitCodes } from "../../src/cli/exitCodes";
import { VsphereDriver, openVsphereDriver } from "../../src/drivers/vsphere/driver";
import { VimFault } from "../../src/drivers/vsphere/faults";
import { SoapTransport, VsphereConnectionError } from "../../src/drivers/vsphere/soap";
import { systemClock } from "../../src/power/clock";
import { Driver } from "../../src/power/driver";
import { AuthenticationError, GracefulShutdownUnavailableError, PowerTransitionError, VmNotFoundError } from "../../src/power/errors";
import { TransitionReport } from "../../src/power/report";
import { TransitionRequest, runTransition } from "../../src/power/transition";
import { describeWithPeer } from "../helpers/peers";
import {
    Vcsim,
    calls,
    context,
    control,
    credentials,
    ensurePower,
    open,
    parsedTarget,
    setBehaviour,
    vcsimEsxFrom,
    vcsimEsxVariables,
    vcsimFrom,
    vcsimVariables,
    vmStatus,
} from "./vcsim";

/** Where a suite runs: the vCenter model or the standalone ESXi host, and the VMs it may use. */
interface Topology {
    readonly name: string;
    readonly variables: readonly string[];
    readonly from: (env: Record<string, string>) => Vcsim;
    readonly datacenter: string;
    /** The suite's VMs: the first is the main one; others get behaviour resets too. */
    readonly vms: readonly [string, string, string];
}

const topologies: readonly Topology[] = [
    // DC0_C0_RP0_VM1 belongs to the lifecycle test, which may run at the same time.
    { name: "vCenter", variables: vcsimVariables, from: vcsimFrom, datacenter: "DC0", vms: ["DC0_H0_VM0", "DC0_H0_VM1", "DC0_C0_RP0_VM0"] },
    // peer.vcsim.test.ts uses VMs of its own (peer-esx-*) on the ESXi instance.
    {
        name: "standalone ESXi",
        variables: vcsimEsxVariables,
        from: vcsimEsxFrom,
        datacenter: "ha-datacenter",
        vms: ["ha-host_VM0", "ha-host_VM1", "ha-host_VM2"],
    },
];

/**
 * The vSphere driver against the govmomi simulator with its guest layer, as vCenter and as a
 * standalone ESXi host: real vim25 SOAP over verified TLS. Each VM gets its behaviour set
 * explicitly through the control endpoint, so these cases do not depend on each other's leftovers.
 */
for (const topology of topologies) {
    describeWithPeer(`vSphere driver against vcsim (${topology.name})`, "vsphere", topology.variables, (env) => {
        const sim: Vcsim = topology.from(env);
        const [vm] = topology.vms;
        const dc = topology.datacenter;
        const opened: Driver[] = [];

        async function driverFor(name = vm, logs: string[] = []): Promise<VsphereDriver> {
            const driver = await open(sim, name, {}, logs);
            opened.push(driver);
            return driver;
        }

        async function transition(
            name: string,
            request: Partial<TransitionRequest> & Pick<TransitionRequest, "desired">,
        ): Promise<{ report: TransitionReport; driver: VsphereDriver }> {
            const driver = await driverFor(name);
            const report = await runTransition(driver, systemClock, { gracefulTimeoutMs: 10_000, verifyTimeoutMs: 10_000, ...request });
            return { report, driver };
        }

        const ops = (report: TransitionReport): string[] => report.calls.map((c) => c.op);

        beforeEach(async () => {
            for (const name of topology.vms) {
                await setBehaviour(sim, name, {});
                await ensurePower(sim, name, "running");
            }
        });

        afterEach(async () => {
            await Promise.all(opened.splice(0).map((d) => d.close()));
        });

        test("graceful: ShutdownGuest, the guest powers off after its 1 s delay, no hard power-off", async () => {
            const { report, driver } = await transition(vm, { desired: "OffGraceful" });
            expect(report).toMatchObject({
                from: "running",
                to: "stopped",
                method: "graceful",
                gracefulMethod: "vmware-tools",
                guestTools: "VMware Tools guestToolsRunning",
                stateDetail: "poweredOff",
            });
            expect(report.fallbackReason).toBeUndefined();
            expect(ops(report)).not.toContain("powerOffHard");
            expect(calls(driver, "ShutdownGuest")).toBe(1);
            expect(calls(driver, "PowerOffVM_Task")).toBe(0);
            // Event-driven: a long poll, not a read every interval.
            expect(calls(driver, "WaitForUpdatesEx")).toBeGreaterThanOrEqual(2);
            expect(calls(driver, "WaitForUpdatesEx")).toBeLessThanOrEqual(4);
            const wait = report.phases.find((p) => p.phase === "gracefulWait");
            expect(wait?.durationMs).toBeGreaterThanOrEqual(800);
            expect(wait?.durationMs).toBeLessThan(2000);
            expect((await driver.readState()).state).toBe("stopped");
            expect(JSON.stringify(report)).not.toContain(sim.password);
        });

        test("hung guest: forced with PowerOffVM_Task right after the deadline", async () => {
            await setBehaviour(sim, vm, { shutdown: "hang" });
            const started = Date.now();
            const { report, driver } = await transition(vm, { desired: "OffGraceful", gracefulTimeoutMs: 2_000 });
            const elapsed = Date.now() - started;
            if (report.method !== "forced") console.log(JSON.stringify(report, null, 1));
            expect(report).toMatchObject({ to: "stopped", method: "forced", fallbackReason: "timeout", gracefulMethod: "vmware-tools" });
            expect(ops(report)).toContain("powerOffHard");
            expect(calls(driver, "PowerOffVM_Task")).toBe(1);
            const wait = report.phases.find((p) => p.phase === "gracefulWait");
            // The long poll is cut at the deadline, not at the next whole second.
            expect(wait?.durationMs).toBeGreaterThanOrEqual(1_900);
            expect(wait?.durationMs).toBeLessThan(2_400);
            expect(elapsed).toBeLessThan(4_000);
            expect((await driver.readState()).state).toBe("stopped");
        });

        test("polling mode (servers without WaitForUpdatesEx) reaches the same graceful result", async () => {
            const driver = await open(sim, vm, { waitMode: "poll", pollIntervalMs: 200 });
            opened.push(driver);
            const report = await runTransition(driver, systemClock, { desired: "OffGraceful", gracefulTimeoutMs: 10_000 });
            expect(report).toMatchObject({ to: "stopped", method: "graceful", gracefulMethod: "vmware-tools" });
            expect(calls(driver, "WaitForUpdatesEx")).toBe(0);
            expect(calls(driver, "RetrievePropertiesEx")).toBeGreaterThanOrEqual(5);
        });

        test("a wait cut at its deadline returns on time and does not swallow the next change", async () => {
            await setBehaviour(sim, vm, { shutdown: "hang" });
            const driver = await driverFor();
            await driver.requestGuestShutdown(systemClock.now() + 1_000);
            // 1.2 s: the server-side long poll runs for 2 whole seconds unless it is cut.
            const cutAt = systemClock.now() + 1_200;
            const first = await driver.waitForState(["stopped"], cutAt);
            expect(first.state).toBe("running");
            expect(systemClock.now() - cutAt).toBeLessThan(400);
            // Another session powers the VM off while this one waits again.
            const other = await driverFor();
            const started = Date.now();
            const powerOff = systemClock.sleep(300).then(() => other.powerOffHard());
            const second = await driver.waitForState(["stopped"], systemClock.now() + 5_000);
            await powerOff;
            // Someone else's PowerOffVM_Task: the events say so.
            expect(second).toMatchObject({
                state: "stopped",
                stoppedBy: "external",
                detail: expect.stringMatching(/^poweredOff: .*VmStoppingEvent/),
            });
            expect(Date.now() - started).toBeLessThan(1_000);
            await driver.close();
            // One collector and one filter served both waits (the session's shared watcher); the
            // first poll was not cut for its waiter, so at most the close cancels one still open.
            expect(calls(driver, "CreatePropertyCollector")).toBe(1);
            expect(calls(driver, "CreateFilter")).toBe(1);
            expect(calls(driver, "CancelWaitForUpdates")).toBeLessThanOrEqual(1);
        });

        test.each([
            ["notRunning", "VMware Tools guestToolsNotRunning (toolsNotRunning), guestState notRunning"],
            ["notInstalled", "VMware Tools guestToolsNotRunning (toolsNotInstalled), guestState notRunning"],
        ] as const)("tools %s: says so in the report and powers off hard at once", async (tools, detail) => {
            await setBehaviour(sim, vm, { tools });
            const { report, driver } = await transition(vm, { desired: "OffGraceful", gracefulTimeoutMs: 30_000 });
            expect(report).toMatchObject({
                to: "stopped",
                method: "forced",
                fallbackReason: "toolsUnavailable",
                fallbackDetail: detail,
                guestTools: detail,
            });
            expect(calls(driver, "ShutdownGuest")).toBe(0);
            expect(report.durationMs).toBeLessThan(5_000);
        });

        test("tools missing and forcing disabled: fails, the VM keeps running", async () => {
            await setBehaviour(sim, vm, { tools: "notRunning" });
            const driver = await driverFor();
            const attempt = runTransition(driver, systemClock, { desired: "OffGraceful", gracefulTimeoutMs: 5_000, force: false });
            await expect(attempt).rejects.toBeInstanceOf(PowerTransitionError);
            await expect(attempt).rejects.toThrow(/toolsUnavailable.*guestToolsNotRunning.*forcing is disabled/);
            expect((await driver.readState()).state).toBe("running");
        });

        test("ShutdownGuest's ToolsUnavailable fault becomes GracefulShutdownUnavailableError(toolsUnavailable)", async () => {
            await setBehaviour(sim, vm, { tools: "notRunning" });
            const driver = await driverFor();
            const attempt = driver.requestGuestShutdown(systemClock.now() + 5_000);
            await expect(attempt).rejects.toBeInstanceOf(GracefulShutdownUnavailableError);
            await expect(attempt).rejects.toMatchObject({
                reason: "toolsUnavailable",
                message: expect.stringContaining("ToolsUnavailable"),
            });
        });

        // Issue 12: a SystemError powered off hard at once, long before the deadline.
        test("ShutdownGuest answering SystemError every time: tried until the deadline, then forced with the fault in the report", async () => {
            await setBehaviour(sim, vm, { shutdown: "fault" });
            const started = Date.now();
            const { report, driver } = await transition(vm, { desired: "OffGraceful", gracefulTimeoutMs: 2_000 });
            expect(report).toMatchObject({ to: "stopped", method: "forced", fallbackReason: "gracefulRequestFailed" });
            expect(report.fallbackDetail).toMatch(/ShutdownGuest on vm-\d+ failed with SystemError.*attempts until the deadline/);
            expect(Date.now() - started).toBeGreaterThanOrEqual(1_900);
            expect(calls(driver, "ShutdownGuest")).toBeGreaterThanOrEqual(2);
            expect(calls(driver, "PowerOffVM_Task")).toBe(1);
        });

        // Issue 12: someone else's hard power-off during our wait was reported graceful (exit 0).
        test("a hard power-off by someone else during the graceful wait: externalOff, exit code 3", async () => {
            await setBehaviour(sim, vm, { shutdown: "hang" });
            await control(sim, "power", { name: vm, state: "off", after: "800ms" });
            const { report, driver } = await transition(vm, { desired: "OffGraceful" });
            expect(report).toMatchObject({ to: "stopped", method: "externalOff", stateDetail: expect.stringMatching(/VmStoppingEvent/) });
            expect(report.notes.join("\n")).toMatch(/powered off hard by someone else/);
            expect(exitCodeFor(report)).toBe(exitCodes.forced);
            expect(calls(driver, "QueryEvents")).toBe(1);
            // vcsim's ESXi model has no QueryEvents: an event collector's latest page instead.
            expect(calls(driver, "CreateCollectorForEvents")).toBe(topology.name === "vCenter" ? 0 : 1);
            expect(calls(driver, "PowerOffVM_Task")).toBe(0);
            expect(report.durationMs).toBeLessThan(5_000);
        });

        test("the guest shutting itself down during the wait (our request ignored): graceful, exit code 0", async () => {
            await setBehaviour(sim, vm, { shutdown: "hang" });
            await control(sim, "power", { name: vm, state: "off", after: "800ms", by: "guest" });
            const { report } = await transition(vm, { desired: "OffGraceful" });
            expect(report).toMatchObject({ to: "stopped", method: "graceful", stateDetail: "poweredOff" });
            expect(exitCodeFor(report)).toBe(exitCodes.ok);
        });

        test("ShutdownGuest answering SystemError once: asked again, graceful, nothing forced", async () => {
            await setBehaviour(sim, vm, { shutdownFault: "SystemError", shutdownFaultCount: 1 });
            const { report, driver } = await transition(vm, { desired: "OffGraceful" });
            expect(report).toMatchObject({ to: "stopped", method: "graceful", gracefulMethod: "vmware-tools" });
            expect(report.fallbackReason).toBeUndefined();
            expect(calls(driver, "ShutdownGuest")).toBe(2);
            expect(calls(driver, "PowerOffVM_Task")).toBe(0);
        });

        test("already off: nothing is sent", async () => {
            await ensurePower(sim, vm, "stopped");
            const { report, driver } = await transition(vm, { desired: "OffGraceful" });
            expect(report).toMatchObject({ from: "stopped", to: "stopped", method: "none" });
            expect(calls(driver, "ShutdownGuest") + calls(driver, "PowerOffVM_Task")).toBe(0);
        });

        test("power on from off, through PowerOnVM_Task and its task state", async () => {
            await ensurePower(sim, vm, "stopped");
            const { report, driver } = await transition(vm, { desired: "On" });
            expect(report).toMatchObject({ from: "stopped", to: "running", method: "powerOn", stateDetail: "poweredOn" });
            expect(calls(driver, "PowerOnVM_Task")).toBe(1);
            // vcsim's task is done on the first read of info.state.
            expect(calls(driver, "RetrievePropertiesEx")).toBeGreaterThanOrEqual(2);
        });

        test("Off powers off hard without asking the guest", async () => {
            const { report, driver } = await transition(vm, { desired: "Off" });
            expect(report).toMatchObject({ to: "stopped", method: "forced" });
            expect(calls(driver, "ShutdownGuest")).toBe(0);
        });

        test("PowerOffVM_Task on an off VM fails with InvalidPowerState from the task's info.error", async () => {
            await ensurePower(sim, vm, "stopped");
            const driver = await driverFor();
            const attempt = driver.powerOffHard();
            await expect(attempt).rejects.toBeInstanceOf(VimFault);
            await expect(attempt).rejects.toMatchObject({ faultType: "InvalidPowerState", fields: { existingState: "poweredOff" } });
        });

        test("the guest finishing right at the deadline: InvalidPowerState on the power-off counts as graceful", async () => {
            const driver = await driverFor();
            // A driver that reports the VM still running when the graceful wait ends, although the
            // guest finishes its 1 s shutdown before the hard power-off reaches vSphere.
            let firstWait = true;
            const late: Driver = {
                platform: driver.platform,
                vmDescription: driver.vmDescription,
                readState: () => driver.readState(),
                checkGuestTools: () => driver.checkGuestTools(),
                requestGuestShutdown: (deadline) => driver.requestGuestShutdown(deadline),
                powerOffHard: () => driver.powerOffHard(),
                powerOn: () => driver.powerOn(),
                close: () => driver.close(),
                waitForState: async (targets, deadline) => {
                    if (!firstWait) return driver.waitForState(targets, deadline);
                    firstWait = false;
                    await systemClock.sleep(Math.max(0, deadline - systemClock.now()) + 1_000);
                    return { state: "running", detail: "poweredOn" };
                },
            };
            const report = await runTransition(late, systemClock, { desired: "OffGraceful", gracefulTimeoutMs: 500 });
            expect(report).toMatchObject({ to: "stopped", method: "graceful" });
            expect(report.fallbackReason).toBeUndefined();
            expect(report.notes.join(" ")).toMatch(/finished shutting down at the deadline/);
            expect(report.calls.find((c) => c.op === "powerOffHard")).toMatchObject({
                ok: false,
                error: expect.stringContaining("InvalidPowerState"),
            });
        });

        test("wrong password: AuthenticationError after exactly one Login, password not echoed", async () => {
            const wrong = "Wr0ng-S3cret-x9";
            const transports: SoapTransport[] = [];
            const logs: string[] = [];
            const attempt = openVsphereDriver(parsedTarget(sim, vm), credentials(sim, wrong), context(logs), {
                onTransport: (t) => transports.push(t),
            });
            await expect(attempt).rejects.toBeInstanceOf(AuthenticationError);
            const error = (await attempt.catch((e: unknown) => e)) as Error;
            expect(error.message).toMatch(/refused the login of "user" \(InvalidLogin\)/);
            expect(`${error.message}\n${error.stack}\n${logs.join("\n")}`).not.toContain(wrong);
            expect(transports).toHaveLength(1);
            for (const transport of transports) expect(transport.callCounts.get("Login")).toBe(1);
        });

        test.each([
            ["a name", "no-such-vm", /no VM is called "no-such-vm"/],
            ["an inventory path", `${dc}/vm/no-such-vm`, new RegExp(`nothing at inventory path ${dc}/vm/no-such-vm`)],
            ["a path to a folder", `${dc}/vm`, /is a Folder, not a VirtualMachine/],
            ["a moid", "vm-99999", /ManagedObjectNotFound/],
            ["a UUID", "00000000-0000-4000-8000-000000000000", /no VM has that instance or BIOS UUID/],
        ])("VM not found by %s: VmNotFoundError", async (_kind, name, message) => {
            const attempt = open(sim, name);
            await expect(attempt).rejects.toBeInstanceOf(VmNotFoundError);
            await expect(attempt).rejects.toThrow(message);
        });

        test("an unknown datacenter: VmNotFoundError naming it", async () => {
            const attempt = openVsphereDriver(parsedTarget(sim, vm, { datacenter: "DC9" }), credentials(sim), context());
            await expect(attempt).rejects.toBeInstanceOf(VmNotFoundError);
            await expect(attempt).rejects.toThrow(/datacenter "DC9" was not found/);
        });

        test("name, inventory path, BIOS UUID, instance UUID and moid all find the same VM", async () => {
            const byName = await driverFor(vm);
            const uuids = await byName.client.retrieveProperties(byName.vm, ["config.uuid", "config.instanceUuid"]);
            const forms = [
                `${dc}/vm/${vm}`,
                `name:${vm}`,
                byName.vm.value,
                uuids.get("config.uuid")?.text ?? "",
                uuids.get("config.instanceUuid")?.text ?? "",
            ];
            for (const form of forms) {
                const driver = await driverFor(form);
                expect(driver.vm).toEqual(byName.vm);
            }
            const inDatacenter = await openVsphereDriver(parsedTarget(sim, vm, { datacenter: dc }), credentials(sim), context());
            opened.push(inDatacenter);
            expect(inDatacenter.vm).toEqual(byName.vm);
        });

        test("untrusted certificate: refused without caCert, accepted with insecure: true, and the description says so", async () => {
            const withoutCa = { ...parsedTarget(sim, vm), caCert: undefined };
            const refused = openVsphereDriver(withoutCa, credentials(sim), context());
            await expect(refused).rejects.toBeInstanceOf(VsphereConnectionError);
            await expect(refused).rejects.toThrow(
                /certificate of 127\.0\.0\.1:\d+ is not trusted \(DEPTH_ZERO_SELF_SIGNED_CERT\).*caCert.*insecure/,
            );
            const logs: string[] = [];
            const insecure = await openVsphereDriver(
                parsedTarget(sim, vm, { caCert: undefined, insecure: true }),
                credentials(sim),
                context(logs),
            );
            opened.push(insecure);
            expect((await insecure.readState()).state).toBe("running");
            expect(insecure.vmDescription).toMatch(/\(TLS not verified\)/);
            expect(logs.join("\n")).toMatch(/TLS verification is off/);
        });

        test("close() logs the session out once and is safe to call twice", async () => {
            const driver = await open(sim, vm);
            await driver.close();
            await driver.close();
            expect(calls(driver, "Logout")).toBe(1);
            // The session is gone: the old transport no longer has a cookie to send.
            expect(driver.client.transport.hasSession).toBe(false);
        });

        test("a graceful shutdown costs a bounded number of SOAP calls", async () => {
            const { driver } = await transition(vm, { desired: "OffGraceful" });
            await driver.close();
            // ServiceContent, Login, find (3), read (power state and tools), ShutdownGuest, read,
            // own collector, list view, filter, 2 waits, QueryEvents (who powered it off), verify
            // read, collector destroyed, Logout. ESXi (vcsim): QueryEvents is missing, so an
            // event collector is created, read and destroyed (3 more).
            expect(calls(driver)).toBeLessThanOrEqual(topology.name === "vCenter" ? 17 : 20);
            expect(calls(driver, "QueryEvents")).toBe(1);
            expect(calls(driver, "CreatePropertyCollector")).toBe(1);
            expect(calls(driver, "DestroyPropertyCollector")).toBe(1);
        });
        // Issue 18: guest states and transient faults, each failed on the driver before.
        test("a guest already shutting down (tools gone) is waited for, not forced", async () => {
            await setBehaviour(sim, vm, { tools: "notRunning", guestState: "shuttingDown" });
            await control(sim, "power", { name: vm, state: "off", after: "1500ms", by: "guest" });
            const { report, driver } = await transition(vm, { desired: "OffGraceful" });
            expect(report).toMatchObject({ to: "stopped", method: "graceful", gracefulMethod: "guest-initiated" });
            expect(report.guestTools).toMatch(/guestToolsNotRunning.*guestState shuttingDown; the guest is already shutting down/);
            expect(report.fallbackReason).toBeUndefined();
            expect(calls(driver, "ShutdownGuest")).toBe(0);
            expect(calls(driver, "PowerOffVM_Task")).toBe(0);
            expect(report.durationMs).toBeGreaterThanOrEqual(1_000);
        });

        test("a guest already shutting down that never stops is forced at the deadline, not before", async () => {
            await setBehaviour(sim, vm, { tools: "notRunning", guestState: "shuttingDown" });
            const { report, driver } = await transition(vm, { desired: "OffGraceful", gracefulTimeoutMs: 1_500 });
            expect(report).toMatchObject({ to: "stopped", method: "forced", fallbackReason: "timeout" });
            expect(report.phases.find((p) => p.phase === "gracefulWait")?.durationMs).toBeGreaterThanOrEqual(1_400);
            expect(calls(driver, "PowerOffVM_Task")).toBe(1);
        });

        test("tools still starting are waited for within the deadline, then ShutdownGuest", async () => {
            await setBehaviour(sim, vm, { toolsStarting: "1500ms" });
            const logs: string[] = [];
            const driver = await driverFor(vm, logs);
            const report = await runTransition(driver, systemClock, {
                desired: "OffGraceful",
                gracefulTimeoutMs: 10_000,
                verifyTimeoutMs: 10_000,
            });
            expect(report).toMatchObject({ to: "stopped", method: "graceful", gracefulMethod: "vmware-tools" });
            expect(report.guestTools).toMatch(/guestToolsExecutingScripts.*waiting for VMware Tools to start/);
            expect(report.fallbackReason).toBeUndefined();
            expect(calls(driver, "PowerOffVM_Task")).toBe(0);
            expect(report.phases.find((p) => p.phase === "gracefulRequest")?.durationMs).toBeGreaterThanOrEqual(1_000);
            expect(logs.join("\n")).toMatch(/VMware Tools are starting; waiting for them/);
        });

        test("tools that do not finish starting by the deadline: toolsUnavailable, forced right after it", async () => {
            await setBehaviour(sim, vm, { toolsStarting: "30s" });
            const started = Date.now();
            const { report, driver } = await transition(vm, { desired: "OffGraceful", gracefulTimeoutMs: 1_500 });
            expect(report).toMatchObject({ to: "stopped", method: "forced", fallbackReason: "toolsUnavailable" });
            expect(report.fallbackDetail).toMatch(/guestToolsExecutingScripts/);
            expect(Date.now() - started).toBeGreaterThanOrEqual(1_400);
            expect(Date.now() - started).toBeLessThan(8_000);
            expect(calls(driver, "PowerOffVM_Task")).toBe(1);
        });

        test.each(["TaskInProgress", "InvalidState"] as const)(
            "ShutdownGuest answering %s twice is retried within the deadline",
            async (fault) => {
                await setBehaviour(sim, vm, { shutdownFault: fault, shutdownFaultCount: 2 });
                const { report, driver } = await transition(vm, { desired: "OffGraceful" });
                expect(report).toMatchObject({ to: "stopped", method: "graceful", gracefulMethod: "vmware-tools" });
                expect(report.fallbackReason).toBeUndefined();
                expect(calls(driver, "ShutdownGuest")).toBe(3);
                expect(calls(driver, "PowerOffVM_Task")).toBe(0);
                expect((await vmStatus(sim, vm)).shutdownFaultsLeft).toBe(0);
            },
        );

        test("TaskInProgress until the deadline: gracefulRequestFailed, forced once the deadline passed", async () => {
            await setBehaviour(sim, vm, { shutdownFault: "TaskInProgress", shutdownFaultCount: 1000 });
            const started = Date.now();
            const { report, driver } = await transition(vm, { desired: "OffGraceful", gracefulTimeoutMs: 1_500 });
            expect(report).toMatchObject({ to: "stopped", method: "forced", fallbackReason: "gracefulRequestFailed" });
            expect(report.fallbackDetail).toMatch(/TaskInProgress.*attempts until the deadline/);
            expect(Date.now() - started).toBeGreaterThanOrEqual(1_400);
            expect(calls(driver, "ShutdownGuest")).toBeGreaterThanOrEqual(2);
            expect(calls(driver, "ShutdownGuest")).toBeLessThanOrEqual(6);
        });

        test("found already off after a tools-unavailable fallback: reported as such, not forced", async () => {
            await setBehaviour(sim, vm, { tools: "notRunning" });
            const driver = await driverFor(vm);
            // Someone else (HA, the guest's own shutdown) powers it off just before our power-off.
            const offFirst: Driver = {
                platform: driver.platform,
                vmDescription: driver.vmDescription,
                readState: () => driver.readState(),
                checkGuestTools: () => driver.checkGuestTools(),
                requestGuestShutdown: (deadline) => driver.requestGuestShutdown(deadline),
                powerOffHard: async () => {
                    await control(sim, "power", { name: vm, state: "off" });
                    await driver.powerOffHard();
                },
                powerOn: () => driver.powerOn(),
                close: () => driver.close(),
                waitForState: (targets, deadline) => driver.waitForState(targets, deadline),
            };
            const report = await runTransition(offFirst, systemClock, { desired: "OffGraceful", gracefulTimeoutMs: 5_000 });
            expect(report).toMatchObject({ to: "stopped", method: "none", fallbackReason: "toolsUnavailable" });
            expect(report.notes.join(" ")).toMatch(
                /already off when the hard power-off was tried \(after toolsUnavailable\); nothing was forced/,
            );
            expect(report.calls.find((c) => c.op === "powerOffHard")).toMatchObject({
                ok: false,
                error: expect.stringContaining("InvalidPowerState"),
            });
        });
    });
}
