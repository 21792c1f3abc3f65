import { FleetVm, runFleetOperation } from "../../src/operations/fleet";
import { parseInputs } from "../../src/operations/inputs";
import { describeWithPeer } from "../helpers/peers";
import { Guest, PeerEnv, defineGuest, libvirtPeerVariables, takeGuestSlot } from "./guests";

/**
 * A fleet of three real guests in two tiers (db in tier 0; web-a, web-b in tier 1). The guests'
 * own hook logs, watched from the host while the fleet runs, show when each guest began to shut
 * down or to boot: on stop, tier 1's guests ran their pre-stop hooks and were off before tier
 * 0's guest began its hook; on start, tier 0 was running before tier 1 was powered on. Then a
 * rolling restart with concurrency 1. Takes both guest slots (three guests run at once).
 */

/** When (host clock) each guest's hook log first showed `needle`. */
class HookWatch {
    readonly seen = new Map<string, number>();
    private readonly timer: NodeJS.Timeout;
    constructor(guests: readonly Guest[], needle: string) {
        this.timer = setInterval(() => {
            for (const g of guests) if (!this.seen.has(g.name) && g.hookLog().includes(needle)) this.seen.set(g.name, Date.now());
        }, 20);
    }
    stop(): void {
        clearInterval(this.timer);
    }
}

describeWithPeer("fleet of real libvirt guests", "libvirt", libvirtPeerVariables, (env: PeerEnv) => {
    jest.setTimeout(600_000);
    let releases: (() => void)[] = [];
    let db: Guest;
    let webA: Guest;
    let webB: Guest;

    beforeAll(async () => {
        releases = [await takeGuestSlot(env), await takeGuestSlot(env)];
        db = defineGuest(env, "fleet-db", "graceful");
        webA = defineGuest(env, "fleet-web-a", "graceful", ["lvtest.prestop_delay=2"]);
        webB = defineGuest(env, "fleet-web-b", "graceful", ["lvtest.prestop_delay=2"]);
    });
    afterAll(async () => {
        for (const g of [db, webA, webB]) await g?.remove();
        for (const release of releases) release();
    });

    const fleet = (): FleetVm[] =>
        [
            [db, 0],
            [webA, 1],
            [webB, 1],
        ].map(([g, tier]) => ({
            name: (g as Guest).name,
            tier: tier as number,
            inputs: parseInputs({
                platform: "libvirt",
                target: { uri: env.LVPEER_URI, domain: (g as Guest).name, shutdownMode: "acpi" },
                powerState: "On",
                gracefulShutdownTimeout: "60s",
            }),
        }));

    test("start boots tier 0 first; stop shuts tier 1 down completely before tier 0 is asked", async () => {
        for (const g of [db, webA, webB]) g.truncateLogs();
        const bootWatch = new HookWatch([db, webA, webB], "lvtest: ready");
        const finishedOn = new Map<string, number>();
        const on = await runFleetOperation(fleet(), {
            action: "On",
            concurrency: 3,
            onFleetEvent: (e) => e.kind === "finished" && finishedOn.set(e.id, Date.now()),
        });
        expect(on.totals).toMatchObject({ done: 3, failed: 0 });
        const until = Date.now() + 120_000;
        while (bootWatch.seen.size < 3 && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
        bootWatch.stop();
        expect(bootWatch.seen.size).toBe(3);
        // The web guests were powered on only after the db guest was running.
        for (const web of [webA, webB]) expect(finishedOn.get(web.name) as number).toBeGreaterThan(finishedOn.get(db.name) as number);
        expect(on.tiers.map((t) => t.tier)).toEqual([0, 1]);

        for (const g of [db, webA, webB]) g.truncateLogs();
        const stopWatch = new HookWatch([db, webA, webB], "prestop: begin");
        const offAt = new Map<string, number>();
        const off = await runFleetOperation(fleet(), {
            action: "OffGraceful",
            concurrency: 3,
            onFleetEvent: (e) => e.kind === "finished" && offAt.set(e.id, Date.now()),
        });
        stopWatch.stop();
        expect(off.totals).toMatchObject({ done: 3, failed: 0 });
        for (const m of off.members) {
            expect(m.outcome.status === "done" && m.outcome.result.reports[0]).toMatchObject({ method: "graceful", to: "stopped" });
        }
        const dbBegan = stopWatch.seen.get(db.name) as number;
        expect(dbBegan).toBeDefined();
        for (const web of [webA, webB]) {
            // Each web guest ran its own pre-stop hook, and was off before the db guest's hook began.
            expect(stopWatch.seen.get(web.name)).toBeDefined();
            expect(offAt.get(web.name) as number).toBeLessThan(dbBegan);
            expect(stopWatch.seen.get(web.name) as number).toBeLessThan(dbBegan);
        }
        for (const g of [db, webA, webB]) expect(await g.state()).toBe("shut off (shutdown)");
    });

    test("a rolling restart with concurrency 1 restarts one guest at a time, tier 0 first", async () => {
        await runFleetOperation(fleet(), { action: "On", concurrency: 3 });
        for (const g of [db, webA, webB]) await g.waitReady(120_000);
        const events: { id: string; kind: string; at: number }[] = [];
        const restart = await runFleetOperation(fleet(), {
            action: "Restart",
            concurrency: 1,
            onFleetEvent: (e) => {
                if (e.kind === "started" || e.kind === "finished") events.push({ id: e.id, kind: e.kind, at: Date.now() });
            },
        });
        expect(restart.totals).toMatchObject({ done: 3, failed: 0 });
        // Never two at once: every start follows the previous finish.
        expect(events.map((e) => e.kind)).toEqual(["started", "finished", "started", "finished", "started", "finished"]);
        expect(events[0].id).toBe(db.name);
        for (const g of [db, webA, webB]) {
            expect(g.hookLog()).toContain("prestop: begin");
            expect(await g.state()).toBe("running (booted)");
        }
    });
});
