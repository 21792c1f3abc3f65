import { renderGuestUserData } from "../../src/guest/render";
import { PreStopHook } from "../../src/guest/types";
import { describeWithPeer } from "../helpers/peers";
import { bootAndShutDown, find, GuestRun, parseShow } from "./guestPeer";
import { sampleAppUserData } from "./sampleApp";

/**
 * The rendered user-data in a real Debian guest: systemd 252 as PID 1 and cloud-init 22.4 in a
 * systemd-nspawn container (the systemd-guest peer, test/peers/systemd-guest), powered off the
 * way a hypervisor's ACPI button does. Proven from the host, through the guest's journal and an events log the
 * guest writes to a bind-mounted host directory (guest and host share the clock).
 */

/** An argument full of what a shell, systemd or YAML would otherwise interpret. */
const trickyArgument = `it's "$HOME" 100%n \`id\` \\back é ✓ ; exit 1`;

const hooks: PreStopHook[] = [
    { name: "first", exec: { command: ["/usr/local/bin/log-event", "hook first", trickyArgument] }, timeout: "5s" },
    { name: "drain", drain: { createFile: "/run/sample-app/draining", seconds: "2s" } },
    { name: "check-health", exec: { command: ["/usr/local/bin/log-health"] }, timeout: "5s" },
    {
        name: "deregister",
        httpGet: {
            url: "http://127.0.0.1:8080/deregister?vm=web-1&why=$shutdown",
            method: "POST",
            headers: { "X-Token": "t0k'en" },
            body: '{"vm": "web-1"}',
        },
        timeout: "5s",
    },
    { name: "last", exec: { script: 'log-event "hook last" "from a script"\n' }, timeout: "5s" },
];

const gracefulTimeoutMs = 60_000;

/** `systemctl show` of the app and the preStop unit, taken after boot and before the shutdown. */
const showUnits = [
    "systemctl",
    "show",
    "sample-app.service",
    "graceful-vm-prestop.service",
    "-p",
    "Id",
    "-p",
    "ActiveState",
    "-p",
    "KillMode",
    "-p",
    "TimeoutStopUSec",
];

describeWithPeer("preStop hooks in a real systemd guest", "systemd-guest", ["SGP_PEER_DIR"], (env) => {
    jest.setTimeout(240_000);

    describe("graceful app", () => {
        let run: GuestRun;
        let budgetHooksMs: number;
        let stopLimitMs: number;
        beforeAll(() => {
            const rendered = renderGuestUserData(
                hooks,
                {
                    services: [{ name: "sample-app", timeoutStopSec: "10s" }],
                    userData: sampleAppUserData("graceful"),
                    installGuestAgent: false,
                    margin: "5s",
                },
                { platform: "libvirt", gracefulTimeoutMs },
            );
            budgetHooksMs = rendered.budget.hooksMs;
            stopLimitMs = rendered.budget.preStopStopLimitMs;
            run = bootAndShutDown(env.SGP_PEER_DIR, `gvm-graceful-${process.pid}`, rendered.userData, {
                shutdownTimeoutSeconds: gracefulTimeoutMs / 1000,
                probes: { units: showUnits },
            });
        });

        test("the guest powered off by itself, within gracefulShutdownTimeout", () => {
            expect(run.shutdownResult).toBe("poweroff");
            expect(run.shutdownSeconds).toBeLessThan(gracefulTimeoutMs / 1000);
        });

        test("the hooks ran in order, each with exactly its arguments", () => {
            const order = [
                find(run.events, /^event: \[hook first\]/),
                find(run.events, /^health: /),
                find(run.events, /^app: POST /),
                find(run.events, /^event: \[hook last\]/),
            ].map((e) => e.time);
            expect([...order].sort((a, b) => a - b)).toEqual(order);
            expect(find(run.events, /^event: \[hook first\]/).text).toBe(`event: [hook first] [${trickyArgument}]`);
            expect(find(run.events, /^event: \[hook last\]/).text).toBe("event: [hook last] [from a script]");
        });

        test("drain flipped the health check and waited drainSeconds", () => {
            expect(find(run.events, /^health: /).text).toBe("health: 503");
            const drainStart = find(run.journal, /hook 02-drain start/).time;
            const drainDone = find(run.journal, /hook 02-drain done/).time;
            expect(drainDone - drainStart).toBeGreaterThanOrEqual(1.95);
            expect(drainDone - drainStart).toBeLessThan(5);
        });

        test("the httpGet hook sent its method, URL, header and body", () => {
            expect(find(run.events, /^app: POST /).text).toBe(
                `app: POST /deregister?vm=web-1&why=$shutdown token=t0k'en body={"vm": "web-1"}`,
            );
        });

        test("every hook finished before the app got SIGTERM, within the hooks' budget", () => {
            const begin = find(run.journal, /graceful-vm prestop: begin/).time;
            const done = find(run.journal, /graceful-vm prestop: done/).time;
            // Causal order on the guest's clock: the last hook wrote its line before it exited,
            // the app wrote its line on SIGTERM. (journald stamps lines when it reads them, so a
            // journal line of the runner can lag the app's own log by microseconds.)
            const lastHook = find(run.events, /^event: \[hook last\]/).time;
            const sigterm = find(run.events, /^app: SIGTERM received/).time;
            expect(lastHook).toBeLessThanOrEqual(sigterm);
            // Both from systemd itself, in one stream: the preStop unit stopped before the app's stop began.
            expect(
                find(
                    run.journal,
                    /Stopped graceful-vm-prestop\.service|Finished graceful-vm-prestop|graceful-vm-prestop\.service: Deactivated/,
                ).time,
            ).toBeLessThanOrEqual(find(run.journal, /Stopping sample-app\.service/).time);
            expect(done - begin).toBeLessThan(budgetHooksMs / 1000);
            expect(run.journal.some((e) => /timed out|failed with exit code/.test(e.text) && /graceful-vm prestop/.test(e.text))).toBe(
                false,
            );
        });

        test("the service drop-in was applied and the app stopped gracefully", () => {
            const units = parseShow(run.probes.units.stdout);
            expect(units).toEqual([
                { Id: "sample-app.service", ActiveState: "active", KillMode: "control-group", TimeoutStopUSec: "10s" },
                {
                    Id: "graceful-vm-prestop.service",
                    ActiveState: "active",
                    KillMode: "mixed",
                    TimeoutStopUSec: `${stopLimitMs / 1000}s`,
                },
            ]);
            expect(find(run.events, /^app: SIGTERM received/).text).toBe("app: SIGTERM received, exiting");
            expect(run.journal.some((e) => /sample-app\.service: State 'stop-sigterm' timed out/.test(e.text))).toBe(false);
        });
    });

    describe("app that ignores SIGTERM, and a hook that hangs", () => {
        let run: GuestRun;
        beforeAll(() => {
            const rendered = renderGuestUserData(
                [
                    { name: "stuck", exec: { command: ["sleep", "60"] }, timeout: "2s" },
                    { name: "mark", exec: { command: ["/usr/local/bin/log-event", "hook mark"] }, timeout: "5s" },
                ],
                {
                    services: [{ name: "sample-app.service", timeoutStopSec: "4s" }],
                    userData: sampleAppUserData("hung"),
                    installGuestAgent: false,
                    margin: "5s",
                },
                { platform: "libvirt", gracefulTimeoutMs: 30_000 },
            );
            run = bootAndShutDown(env.SGP_PEER_DIR, `gvm-hung-${process.pid}`, rendered.userData, { shutdownTimeoutSeconds: 30 });
        });

        test("a hook past its timeout is stopped and the next one still runs", () => {
            const start = find(run.journal, /hook 01-stuck start/).time;
            const timedOut = find(run.journal, /graceful-vm prestop: hook 01-stuck timed out after 2s/).time;
            expect(timedOut - start).toBeGreaterThanOrEqual(1.95);
            expect(timedOut - start).toBeLessThan(4);
            expect(find(run.journal, /hook 02-mark done/).time).toBeGreaterThanOrEqual(timedOut);
        });

        test("the hook ran before the SIGTERM, and the app was SIGKILLed at its TimeoutStopSec", () => {
            expect(run.shutdownResult).toBe("poweroff");
            const hook = find(run.events, /^event: \[hook mark\]/).time;
            const sigterm = find(run.events, /^app: SIGTERM received, ignoring it/).time;
            // systemd's own clock for the SIGTERM and the SIGKILL: the app's log line may lag on a busy machine.
            const stopping = find(run.journal, /Stopping sample-app\.service/).time;
            const killed = find(run.journal, /sample-app\.service: State 'stop-sigterm' timed out\. Killing\./).time;
            expect(hook).toBeLessThanOrEqual(sigterm);
            expect(killed - stopping).toBeGreaterThanOrEqual(3.95);
            expect(killed - stopping).toBeLessThan(5.5);
            expect(run.journal.some((e) => /sample-app\.service: Main process exited, code=killed, status=9\/KILL/.test(e.text))).toBe(
                true,
            );
            expect(run.shutdownSeconds).toBeLessThan(30);
        });
    });
});
