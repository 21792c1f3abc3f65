import { guestPaths } from "../../src/guest/hooks";
import { renderGuestUserData, RenderedGuest } from "../../src/guest/render";
import { describeWithPeer } from "../helpers/peers";
import { bootAndShutDown, Event, find, findAll, GuestRun, parseShow } from "./guestPeer";
import { sampleAppUserData } from "./sampleApp";

/**
 * The guest side when things misbehave, in a real Debian guest (systemd 252, cloud-init 22.4):
 * a listed service that waits for cloud-init, hooks that ignore SIGTERM, services whose children
 * outlive their main process, a user runcmd that fails, a reboot. Each case is one class of
 * failure an outside review found; every duration is read from the guest's own journal.
 */

/** Scheduling slack on a shared 2-core machine: systemd's own timestamps, not the budget, get it. */
const slackSeconds = 0.3;

const armedProbes = {
    active: ["systemctl", "is-active", "graceful-vm-prestop.service"],
    marker: ["cat", guestPaths.armedMarker],
    cloudInit: ["cloud-init", "status"],
};

function logEvent(name: string, timeout = "5s"): { name: string; exec: { command: string[] }; timeout: string } {
    return { name, exec: { command: ["/usr/local/bin/log-event", `hook ${name}`] }, timeout };
}

/** Seconds from systemd's "Stopping X" to its "Stopped X" for a unit, from the journal. */
function stopSeconds(journal: readonly Event[], unit: string): number {
    const escaped = unit.replace(/\./g, "\\.");
    return find(journal, new RegExp(`Stopped ${escaped}`)).time - find(journal, new RegExp(`Stopping ${escaped}`)).time;
}

/**
 * systemd's own record, in one stream: the preStop unit had stopped (its hooks were done) before
 * the unit's stop began. (The runner's lines are stamped by journald as it reads them, and can lag.)
 */
function expectPreStopBefore(run: GuestRun, unit: string): void {
    const stopped = find(run.journal, /Stopped graceful-vm-prestop\.service/).time;
    expect(stopped).toBeLessThanOrEqual(find(run.journal, new RegExp(`Stopping ${unit.replace(/\./g, "\\.")}`)).time);
}

function expectArmed(run: GuestRun): void {
    expect(run.probes.active.stdout.trim()).toBe("active");
    expect(run.probes.marker.status).toBe(0);
    expect(run.probes.marker.stdout).toMatch(/^armed \d{4}-\d\d-\d\dT[\d:]+Z: \d+ hooks?, stop limit /);
}

describeWithPeer("the guest side under misbehaviour, in a real systemd guest", "systemd-guest", ["SGP_PEER_DIR"], (env) => {
    jest.setTimeout(240_000);
    const name = (what: string): string => `gvm-${what}-${process.pid}`;

    describe("a listed service ordered after cloud-final (baked into the image, enabled there)", () => {
        let run: GuestRun;
        beforeAll(() => {
            const rendered = renderGuestUserData(
                [logEvent("mark")],
                {
                    services: [{ name: "sample-app", timeoutStopSec: "5s" }],
                    userData: sampleAppUserData("graceful", { afterCloudFinal: true }),
                    installGuestAgent: false,
                    margin: "5s",
                },
                { platform: "libvirt", gracefulTimeoutMs: 60_000 },
            );
            // A blocking install deadlocks here for ever: give up after 60 s.
            run = bootAndShutDown(env.SGP_PEER_DIR, name("late"), rendered.userData, {
                shutdownTimeoutSeconds: 60,
                bootTimeoutSeconds: 60,
                probes: { ...armedProbes, app: ["systemctl", "is-active", "sample-app.service"] },
            });
        });

        test("boot completes: cloud-init is done, the app runs after it and the hooks are armed", () => {
            expect(run.bootStatus).toBe(0);
            expect(run.probes.cloudInit.stdout).toMatch(/status: done/);
            expect(run.probes.app.stdout.trim()).toBe("active");
            expectArmed(run);
            const cloudFinal = find(run.journal, /Finished cloud-final\.service/).time;
            expect(find(run.events, /^app: started/).time).toBeGreaterThanOrEqual(cloudFinal);
        });

        test("at shutdown the hook runs before the app gets SIGTERM", () => {
            expect(run.shutdownResult).toBe("poweroff");
            expect(find(run.journal, /graceful-vm prestop: hook 01-mark done/)).toBeDefined();
            expect(find(run.events, /^event: \[hook mark\]/).time).toBeLessThanOrEqual(find(run.events, /^app: SIGTERM received/).time);
            expectPreStopBefore(run, "sample-app.service");
        });
    });

    describe("hooks that ignore SIGTERM", () => {
        let run: GuestRun;
        let rendered: RenderedGuest;
        const stubbornHook = (hook: string) => ({
            name: hook,
            exec: { command: ["sh", "-c", 'trap "" TERM; /usr/local/bin/log-event "hook $0"; sleep 30', hook] },
            timeout: "1s",
        });
        beforeAll(() => {
            rendered = renderGuestUserData(
                [
                    stubbornHook("deaf-1"),
                    stubbornHook("deaf-2"),
                    stubbornHook("deaf-3"),
                    logEvent("fourth"),
                    { ...logEvent("on-reboot"), on: ["reboot"] },
                ],
                {
                    services: [{ name: "sample-app", timeoutStopSec: "5s" }],
                    userData: sampleAppUserData("graceful"),
                    installGuestAgent: false,
                    margin: "5s",
                },
                { platform: "libvirt", gracefulTimeoutMs: 60_000 },
            );
            run = bootAndShutDown(env.SGP_PEER_DIR, name("deaf"), rendered.userData, {
                shutdownTimeoutSeconds: 60,
                probes: {
                    ...armedProbes,
                    unit: ["systemctl", "show", "graceful-vm-prestop.service", "-p", "TimeoutStopUSec", "-p", "KillMode"],
                },
            });
        });

        test("the unit's stop limit counts every hook's timeout plus its 1s kill grace", () => {
            // poweroff: check 2s + 3 × (1s + 1s) + (5s + 1s) + unit grace 1s; the reboot-only hook (5s + 1s) instead
            // of nothing on reboot. The unit's limit is the longer of the two.
            expect([rendered.budget.hooksMs, rendered.budget.preStopStopLimitMs]).toEqual([15_000, 21_000]);
            expect(parseShow(run.probes.unit.stdout)).toEqual([{ TimeoutStopUSec: "21s", KillMode: "mixed" }]);
            expectArmed(run);
        });

        test("each deaf hook is SIGKILLed 1s after its timeout, and the fourth hook still runs", () => {
            for (const hook of ["01-deaf-1", "02-deaf-2", "03-deaf-3"]) {
                const start = find(run.journal, new RegExp(`hook ${hook} start`)).time;
                const end = find(run.journal, new RegExp(`hook ${hook} timed out after 1s`)).time;
                expect(end - start).toBeGreaterThanOrEqual(1.95);
                expect(end - start).toBeLessThan(2 + slackSeconds);
            }
            expect(findAll(run.events, /^event: \[hook deaf-\d\]/)).toHaveLength(3);
            expect(find(run.journal, /hook 04-fourth done/)).toBeDefined();
            expect(find(run.events, /^event: \[hook fourth\]/).time).toBeLessThanOrEqual(find(run.events, /^app: SIGTERM received/).time);
            expectPreStopBefore(run, "sample-app.service");
        });

        test("everything ran within the budget, and systemd never had to stop the unit itself", () => {
            const begin = find(run.journal, /graceful-vm prestop: begin \(5 hooks, shutdown kind poweroff\)/).time;
            const done = find(run.journal, /graceful-vm prestop: done/).time;
            expect(done - begin).toBeLessThanOrEqual(rendered.budget.hooksMs / 1000);
            expect(findAll(run.journal, /graceful-vm-prestop\.service: Stopping timed out/)).toEqual([]);
            expect(run.shutdownResult).toBe("poweroff");
            expect(run.shutdownSeconds).toBeLessThan(rendered.budget.totalMs / 1000);
        });

        test("a hook for reboots only is skipped on poweroff", () => {
            expect(find(run.journal, /hook 05-on-reboot skipped \(runs on reboot only, this is a poweroff\)/)).toBeDefined();
            expect(findAll(run.events, /hook on-reboot/)).toEqual([]);
        });
    });

    describe("services whose children ignore SIGTERM: control-group and mixed, timed from the journal", () => {
        let run: GuestRun;
        let rendered: RenderedGuest;
        beforeAll(() => {
            rendered = renderGuestUserData(
                [logEvent("mark")],
                {
                    services: [
                        { name: "cg-app", timeoutStopSec: "2s" },
                        { name: "mixed-app", timeoutStopSec: "2s", killMode: "mixed" },
                    ],
                    userData: sampleAppUserData("graceful", { stubbornServices: ["cg-app", "mixed-app"] }),
                    installGuestAgent: false,
                    margin: "5s",
                },
                { platform: "libvirt", gracefulTimeoutMs: 60_000 },
            );
            run = bootAndShutDown(env.SGP_PEER_DIR, name("kill"), rendered.userData, { shutdownTimeoutSeconds: 60, probes: armedProbes });
        });

        const item = (label: string): number => {
            const found = rendered.budget.items.find((i) => i.label === label);
            if (!found) throw new Error(`no budget item ${label}`);
            return found.ms / 1000;
        };

        test("control-group: the timer is re-armed when the main process exits, and the budget counts it twice", () => {
            expect(item("cg-app stop")).toBe(4);
            const seconds = stopSeconds(run.journal, "cg-app.service");
            // Main exits 1.5s after SIGTERM; its child gets a second, full TimeoutStopSec.
            expect(seconds).toBeGreaterThan(2 + 1);
            expect(seconds).toBeLessThanOrEqual(item("cg-app stop") + slackSeconds);
            expect(find(run.journal, /cg-app\.service: State 'final-sigterm' timed out\. Killing\./)).toBeDefined();
        });

        test("mixed: the child is SIGKILLed when the main process exits, within one TimeoutStopSec", () => {
            expect(item("mixed-app stop")).toBe(2);
            const seconds = stopSeconds(run.journal, "mixed-app.service");
            expect(seconds).toBeGreaterThanOrEqual(1.5);
            expect(seconds).toBeLessThan(item("mixed-app stop"));
            expect(findAll(run.journal, /mixed-app\.service: State '[a-z-]+' timed out/)).toEqual([]);
            const mainExits = find(run.events, /^event: \[mixed-app main exits\]/).time;
            expect(find(run.journal, /Stopped mixed-app\.service/).time - mainExits).toBeLessThan(0.5);
        });

        test("the hook ran before both services got SIGTERM, and the whole poweroff fit the budget", () => {
            const hook = find(run.events, /^event: \[hook mark\]/).time;
            expect(hook).toBeLessThanOrEqual(find(run.events, /^event: \[cg-app main SIGTERM\]/).time);
            expect(hook).toBeLessThanOrEqual(find(run.events, /^event: \[mixed-app main SIGTERM\]/).time);
            expectPreStopBefore(run, "cg-app.service");
            expectPreStopBefore(run, "mixed-app.service");
            expect(run.shutdownResult).toBe("poweroff");
            expect(run.shutdownSeconds).toBeLessThan(rendered.budget.totalMs / 1000);
            expectArmed(run);
        });
    });

    describe("a user runcmd that fails (set -e, then a failing command)", () => {
        let run: GuestRun;
        beforeAll(() => {
            const rendered = renderGuestUserData(
                [logEvent("mark")],
                {
                    services: [{ name: "sample-app", timeoutStopSec: "5s" }],
                    userData: sampleAppUserData("graceful", {
                        extraRuncmd: ["log-event 'runcmd before set -e'", "set -e", "false", "log-event 'runcmd never reached'"],
                    }),
                    installGuestAgent: false,
                    margin: "5s",
                },
                { platform: "libvirt", gracefulTimeoutMs: 60_000 },
            );
            run = bootAndShutDown(env.SGP_PEER_DIR, name("runcmd"), rendered.userData, {
                shutdownTimeoutSeconds: 60,
                allowCloudInitError: true,
                probes: armedProbes,
            });
        });

        test("cloud-init reports the user's failure, and the hooks are armed all the same", () => {
            expect(run.bootStatus).toBe(3);
            expect(findAll(run.events, /runcmd/).map((e) => e.text)).toEqual(["event: [runcmd before set -e]"]);
            expect(run.probes.cloudInit.stdout).toMatch(/status: error/);
            expectArmed(run);
        });

        test("at shutdown the hook runs before the app gets SIGTERM", () => {
            expect(run.shutdownResult).toBe("poweroff");
            expect(find(run.events, /^event: \[hook mark\]/).time).toBeLessThanOrEqual(find(run.events, /^app: SIGTERM received/).time);
            expectPreStopBefore(run, "sample-app.service");
        });
    });

    describe("reboot, with a listed service ordered after cloud-final", () => {
        let run: GuestRun;
        beforeAll(() => {
            const rendered = renderGuestUserData(
                [{ ...logEvent("poweroff-only"), on: ["poweroff"] }, { ...logEvent("reboot-only"), on: ["reboot"] }, logEvent("always")],
                {
                    services: [{ name: "sample-app", timeoutStopSec: "5s" }],
                    userData: sampleAppUserData("graceful", { afterCloudFinal: true }),
                    installGuestAgent: false,
                    margin: "5s",
                },
                { platform: "libvirt", gracefulTimeoutMs: 60_000 },
            );
            run = bootAndShutDown(env.SGP_PEER_DIR, name("reboot"), rendered.userData, {
                shutdownTimeoutSeconds: 90,
                reboot: true,
                probes: { ...armedProbes, app: ["systemctl", "is-active", "sample-app.service"] },
            });
        });

        test("hooks run on reboot too, except those for poweroff only; then on poweroff, except those for reboot only", () => {
            expect(run.rebootResult).toBe("reboot");
            expect(run.shutdownResult).toBe("poweroff");
            expect(find(run.journal, /graceful-vm prestop: begin \(3 hooks, shutdown kind reboot\)/)).toBeDefined();
            expect(find(run.journal, /hook 01-poweroff-only skipped \(runs on poweroff only, this is a reboot\)/)).toBeDefined();
            expect(find(run.journal, /graceful-vm prestop: begin \(3 hooks, shutdown kind poweroff\)/)).toBeDefined();
            expect(find(run.journal, /hook 02-reboot-only skipped \(runs on reboot only, this is a poweroff\)/)).toBeDefined();
            expect(findAll(run.events, /^event: \[hook/).map((e) => e.text)).toEqual([
                "event: [hook reboot-only]",
                "event: [hook always]",
                "event: [hook poweroff-only]",
                "event: [hook always]",
            ]);
            const sigterms = findAll(run.events, /^app: SIGTERM received/).map((e) => e.time);
            const always = findAll(run.events, /^event: \[hook always\]/).map((e) => e.time);
            expect(sigterms).toHaveLength(2);
            expect(always[0]).toBeLessThanOrEqual(sigterms[0]);
            expect(always[1]).toBeLessThanOrEqual(sigterms[1]);
        });

        test("after the reboot the hooks are armed again and the app runs: no ordering cycle at the second boot", () => {
            expectArmed(run);
            for (const probes of [run.probes, run.probesAfterReboot]) {
                expect(probes.active.stdout.trim()).toBe("active");
                expect(probes.marker.status).toBe(0);
                expect(probes.app.stdout.trim()).toBe("active");
            }
            expect(findAll(run.journal, /ordering cycle|Job .* deleted to break/i)).toEqual([]);
        });
    });
});
