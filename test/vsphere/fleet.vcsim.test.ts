import { FleetVmResult, runFleetOperation } from "../../src/operations/fleet";
import { parseInputs } from "../../src/operations/inputs";
import { FleetReport } from "../../src/power/fleet";
import { describeWithPeer } from "../helpers/peers";
import {
    Vcsim,
    callCounts,
    control,
    rawTarget,
    scopedUrl,
    setBehaviour,
    vcsimEsxFrom,
    vcsimEsxVariables,
    vcsimFrom,
    vcsimVariables,
    vmStatus,
} from "./vcsim";

/**
 * A fleet run on vSphere shares one session per endpoint (src/drivers/vsphere/session.ts): one
 * Login, one PropertyCollector loop for every VM waited on, VM lookups made once. Counted by the
 * simulator itself, in a scope of this file's own (the URL's /sdk/<scope>).
 */
describeWithPeer("vSphere fleet on one shared session", "vsphere", vcsimVariables, (env) => {
    const sim: Vcsim = vcsimFrom(env);
    const prefix = "vsess";
    const count = 24;
    const names = Array.from({ length: count }, (_, i) => `${prefix}-${String(i).padStart(4, "0")}`);
    let scopes = 0;

    beforeAll(async () => {
        await control(sim, "fleet", { count, prefix, power: "on" });
    }, 60_000);

    /** Every VM of `vms` running, with the default guest (tools running, off 1 s after the request). */
    async function ready(vms: readonly string[], behaviour = {}): Promise<void> {
        for (const vm of vms) {
            await setBehaviour(sim, vm, behaviour);
            if ((await vmStatus(sim, vm)).powerState !== "poweredOn") await control(sim, "power", { name: vm, state: "on" });
        }
    }

    function fleet(vms: readonly string[], scope: string, password = sim.password) {
        return vms.map((name) => ({
            name,
            tier: 0,
            inputs: parseInputs({
                platform: "vsphere",
                target: rawTarget(sim, name, { url: scopedUrl(sim, scope) }),
                credentials: { password },
                powerState: "OffGraceful",
                gracefulShutdownTimeout: "30s",
            }),
        }));
    }

    function methods(report: FleetReport<FleetVmResult>): string[] {
        return report.members.map((m) =>
            m.outcome.status === "done" ? m.outcome.result.reports.map((r) => r.method).join(",") : `${m.outcome.status}`,
        );
    }

    test(`${count} VMs to OffGraceful: one Login, at most 10 SOAP calls per VM, every VM graceful`, async () => {
        await ready(names);
        const scope = `fleet-${process.pid}-${++scopes}`;
        const started = Date.now();
        const report = await runFleetOperation(fleet(names, scope), { action: "OffGraceful", concurrency: count });
        const elapsed = Date.now() - started;
        expect(methods(report)).toEqual(names.map(() => "graceful"));
        const counts = await callCounts(sim, scope);
        expect(counts.logins).toBe(1);
        expect(counts.loginFailures).toBe(0);
        expect(counts.methods.ShutdownGuest).toBe(count);
        expect(counts.methods.PowerOffVM_Task ?? 0).toBe(0);
        // One session's collector, view and filter for all of them; lookups by name listed once.
        expect(counts.methods.CreatePropertyCollector).toBe(1);
        expect(counts.methods.CreateContainerView).toBe(1);
        expect(counts.methods.Logout).toBe(1);
        expect(counts.calls / count).toBeLessThanOrEqual(10);
        // Guests take 1 s; the whole tier is not many times that (a loose bound: the CPU is shared).
        expect(elapsed).toBeLessThan(15_000);
        for (const vm of names) expect((await vmStatus(sim, vm)).powerState).toBe("poweredOff");
    }, 60_000);

    test("the session terminated mid-wait: one new Login for everyone, every VM still graceful", async () => {
        const vms = names.slice(0, 8);
        await ready(vms, { delay: "3s" });
        const scope = `expiry-${process.pid}-${++scopes}`;
        const logs: string[] = [];
        let waiting = 0;
        let terminated: Promise<unknown> | undefined;
        const report = await runFleetOperation(fleet(vms, scope), {
            action: "OffGraceful",
            concurrency: vms.length,
            log: (m) => logs.push(m),
            onVmProgress: (_name, _step, progress) => {
                // Once every VM asked its guest and waits, the server forgets the session.
                if (progress.phase === "gracefulWait" && ++waiting === vms.length)
                    terminated = control(sim, "sessions/terminate", { scope });
            },
        });
        expect(await terminated).toEqual({ terminated: 1 });
        expect(methods(report)).toEqual(vms.map(() => "graceful"));
        const counts = await callCounts(sim, scope);
        expect(counts.logins).toBe(2);
        expect(counts.loginFailures).toBe(0);
        // Some call (the long poll, a read, a view change) was answered NotAuthenticated first.
        expect(Object.values(counts.faults).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(1);
        expect(counts.methods.PowerOffVM_Task ?? 0).toBe(0);
        expect(logs.filter((m) => /no longer authenticated; logging in again/.test(m))).toHaveLength(1);
        expect(logs.join("\n")).not.toContain(sim.password);
    }, 60_000);

    test("a rolling restart on the shared session: each VM stopped gracefully and started again, one Login", async () => {
        const vms = names.slice(8, 12);
        await ready(vms);
        const scope = `restart-${process.pid}-${++scopes}`;
        const report = await runFleetOperation(
            fleet(vms, scope).map((vm) => ({ ...vm, inputs: { ...vm.inputs, powerState: "On" as const } })),
            { action: "Restart", concurrency: 2 },
        );
        expect(methods(report)).toEqual(vms.map(() => "graceful,powerOn"));
        const counts = await callCounts(sim, scope);
        expect(counts.logins).toBe(1);
        expect(counts.methods.ShutdownGuest).toBe(vms.length);
        expect(counts.methods.PowerOnVM_Task).toBe(vms.length);
        for (const vm of vms) expect((await vmStatus(sim, vm)).powerState).toBe("poweredOn");
    }, 60_000);

    test("a wrong password fails every VM after one Login attempt, and the password is nowhere", async () => {
        const vms = names.slice(0, 6);
        await ready(vms);
        const scope = `refused-${process.pid}-${++scopes}`;
        const wrong = "Wr0ng-fleet-S3cret";
        const report = await runFleetOperation(fleet(vms, scope, wrong), { action: "OffGraceful", concurrency: 3 });
        expect(methods(report)).toEqual(vms.map(() => "failed"));
        for (const m of report.members) {
            expect(m.outcome.status === "failed" && m.outcome.error.message).toMatch(/refused the login of "user" \(InvalidLogin\)/);
        }
        expect(JSON.stringify(report)).not.toContain(wrong);
        const counts = await callCounts(sim, scope);
        expect(counts).toMatchObject({ logins: 1, loginFailures: 1 });
        expect(counts.methods.ShutdownGuest ?? 0).toBe(0);
        for (const vm of vms) expect((await vmStatus(sim, vm)).powerState).toBe("poweredOn");
    }, 60_000);
});

describeWithPeer("vSphere fleet on one shared session (standalone ESXi)", "vsphere", vcsimEsxVariables, (env) => {
    const sim: Vcsim = vcsimEsxFrom(env);
    const names = Array.from({ length: 10 }, (_, i) => `vsesx-${String(i).padStart(4, "0")}`);

    test("10 VMs on an ESXi host (ha-* managers): one Login, every VM graceful, at most 10 SOAP calls per VM", async () => {
        await control(sim, "fleet", { count: names.length, prefix: "vsesx", power: "on" });
        for (const vm of names) {
            await setBehaviour(sim, vm, {});
            if ((await vmStatus(sim, vm)).powerState !== "poweredOn") await control(sim, "power", { name: vm, state: "on" });
        }
        const scope = `esx-fleet-${process.pid}`;
        const report = await runFleetOperation(
            names.map((name) => ({
                name,
                tier: 0,
                inputs: parseInputs({
                    platform: "vsphere",
                    target: rawTarget(sim, name, { url: scopedUrl(sim, scope) }),
                    credentials: { password: sim.password },
                    powerState: "OffGraceful",
                    gracefulShutdownTimeout: "30s",
                }),
            })),
            { action: "OffGraceful", concurrency: names.length },
        );
        expect(report.members.map((m) => (m.outcome.status === "done" ? m.outcome.result.reports[0].method : m.outcome.status))).toEqual(
            names.map(() => "graceful"),
        );
        const counts = await callCounts(sim, scope);
        expect(counts).toMatchObject({ logins: 1, loginFailures: 0 });
        expect(counts.methods.CreatePropertyCollector).toBe(1);
        expect(counts.calls / names.length).toBeLessThanOrEqual(10);
    }, 60_000);
});
