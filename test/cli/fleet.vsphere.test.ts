import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { stringify } from "yaml";
import { describeWithPeer } from "../helpers/peers";
import { Vcsim, callCounts, control, scopedUrl, setBehaviour, vcsimFrom, vcsimVariables, vmStatus } from "../vsphere/vcsim";
import { cli } from "./helpers";

/**
 * Issue 11's proof that `--dry-run` touches nothing, on the vSphere simulator: the simulator's
 * own count of the SOAP calls it answered (in a scope of this file's own) shows one Login and
 * reads only, never ShutdownGuest or a task.
 */
describeWithPeer("graceful-vm --fleet --dry-run against vSphere", "vsphere", vcsimVariables, (env) => {
    const sim: Vcsim = vcsimFrom(env);
    const names = Array.from({ length: 6 }, (_, i) => `vcli-${String(i).padStart(4, "0")}`);
    let dir: string;

    beforeAll(async () => {
        await control(sim, "fleet", { count: names.length, prefix: "vcli", power: "on" });
        for (const vm of names) {
            await setBehaviour(sim, vm, {});
            if ((await vmStatus(sim, vm)).powerState !== "poweredOn") await control(sim, "power", { name: vm, state: "on" });
        }
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "graceful-vm-fleet-vsphere-"));
    }, 60_000);
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

    /** Calls that only read: the session, lookups and property reads. */
    const readOnly = [
        "RetrieveServiceContent",
        "Login",
        "Logout",
        "CreateContainerView",
        "DestroyView",
        "RetrievePropertiesEx",
        "ContinueRetrievePropertiesEx",
        "FindByInventoryPath",
        "FindAllByUuid",
    ];

    test("off --graceful --fleet --dry-run: one Login, reads only, every VM still on", async () => {
        const scope = `cli-dry-run-${process.pid}`;
        const file = path.join(dir, "fleet.yaml");
        fs.writeFileSync(
            file,
            stringify({
                defaults: { target: { vsphere: { url: scopedUrl(sim, scope), username: sim.username, caCert: sim.caCert } } },
                tiers: [
                    { name: "database", vms: names.slice(0, 2).map((vm) => ({ name: vm, target: { vsphere: { vm } } })) },
                    { name: "web", vms: names.slice(2).map((vm) => ({ name: vm, target: { vsphere: { vm } } })) },
                ],
            }),
        );
        const result = await cli(["off", "--graceful", "--fleet", file, "--dry-run", "--json"], { GRACEFUL_VM_PASSWORD: sim.password });
        expect(result.stderr).not.toContain(sim.password);
        expect(result.code).toBe(0);
        const plan = result.json<{ dryRun: boolean; vms: { name: string; tier: number; state: string; wouldDo: string }[] }>();
        expect(plan.dryRun).toBe(true);
        // Stopping runs the last tier first.
        expect(plan.vms.map((v) => v.name)).toEqual([...names.slice(2), ...names.slice(0, 2)]);
        for (const vm of plan.vms) {
            expect(vm.state).toBe("running");
            expect(vm.wouldDo).toMatch(/graceful/);
        }
        const counts = await callCounts(sim, scope);
        expect(counts.logins).toBe(1);
        expect(Object.keys(counts.methods).filter((m) => !readOnly.includes(m))).toEqual([]);
        expect(Object.keys(counts.methods).filter((m) => /_Task$|^ShutdownGuest$|^RebootGuest$/.test(m))).toEqual([]);
        for (const vm of names) expect((await vmStatus(sim, vm)).powerState).toBe("poweredOn");
    }, 60_000);
});
