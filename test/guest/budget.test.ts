import { checkGuestBudget, guestBudget } from "../../src/guest/budget";
import { formatExactDuration } from "../../src/power/duration";
import { planGuest } from "../../src/guest/validate";
import { InputError } from "../../src/power/errors";

const issueExample = planGuest(
    [
        { name: "drain", drain: { seconds: "30s", createFile: "/run/app/draining" } },
        { name: "deregister", httpGet: { url: "http://lb/deregister" }, timeout: "5s" },
    ],
    { services: [{ name: "app", timeoutStopSec: "60s" }] },
);

function thrown(fn: () => unknown): InputError {
    try {
        fn();
    } catch (e) {
        if (e instanceof InputError) return e;
        throw e;
    }
    throw new Error("expected an InputError");
}

describe("time budget: the worst case", () => {
    test("counts every hook's timeout plus its kill grace, the unit's grace, and control-group services twice", () => {
        const budget = guestBudget(issueExample);
        expect(budget.items).toEqual([
            { label: "drain", ms: 30_000 },
            { label: "deregister", ms: 6_000, detail: "5s + 1s kill grace" },
            { label: "preStop unit grace", ms: 1_000 },
            { label: "app stop", ms: 120_000, detail: "2 × 1m, KillMode=control-group" },
        ]);
        expect([budget.hooksMs, budget.preStopStopLimitMs, budget.servicesMs, budget.marginMs, budget.totalMs]).toEqual([
            37_000, 37_000, 120_000, 10_000, 167_000,
        ]);
    });

    test("three SIGTERM-ignoring hooks and a fourth: each counts its timeout plus 1s", () => {
        const stubborn = (name: string) => ({ name, exec: { command: ["sleep", "60"] }, timeout: "1s" });
        const budget = guestBudget(planGuest([stubborn("a"), stubborn("b"), stubborn("c"), stubborn("d")], undefined));
        expect(budget.items.map((i) => i.ms)).toEqual([2_000, 2_000, 2_000, 2_000, 1_000]);
        expect(budget.hooksMs).toBe(9_000);
    });

    test("a drain with a request counts the request's kill grace; mixed services count one timeout", () => {
        const plan = planGuest([{ name: "d", drain: { seconds: "20s", request: { url: "http://127.0.0.1/drain", timeout: "3s" } } }], {
            services: [{ name: "worker", timeoutStopSec: "45s", killMode: "mixed" }],
        });
        expect(guestBudget(plan).items).toEqual([
            { label: "d", ms: 24_000, detail: "20s + request 3s + 1s kill grace" },
            { label: "preStop unit grace", ms: 1_000 },
            { label: "worker stop", ms: 45_000, detail: "1 × 45s, KillMode=mixed" },
        ]);
    });

    test("reboot-only hooks are not counted in the poweroff budget, but in the unit's stop limit", () => {
        const plan = planGuest(
            [
                { name: "drain", drain: { seconds: "30s", createFile: "/run/d" }, on: ["poweroff"] },
                { name: "warm-restart", exec: { command: ["true"] }, timeout: "40s", on: ["reboot"] },
                { name: "flush", exec: { command: ["sync"] }, timeout: "5s" },
            ],
            undefined,
        );
        const budget = guestBudget(plan);
        expect(budget.items.map((i) => i.label)).toEqual(["drain", "flush", "shutdown kind check", "preStop unit grace"]);
        // poweroff: 2s check + 30s + 6s + 1s; reboot: 2s + 41s + 6s + 1s.
        expect([budget.hooksMs, budget.preStopStopLimitMs]).toEqual([39_000, 50_000]);
    });

    test("a plan that cannot fit names every number, exactly", () => {
        const error = thrown(() => checkGuestBudget(issueExample, 90_000, "libvirt"));
        expect(error.field).toBe("preStop");
        expect(error.message).toBe(
            "preStop: the guest's shutdown can take up to 2m47s: drain 30s + deregister 6s (5s + 1s kill grace) + preStop unit grace 1s + app stop 2m (2 × 1m, KillMode=control-group) + margin 10s; that is 1m17s more than gracefulShutdownTimeout 1m30s; raise gracefulShutdownTimeout, or shorten the hooks or the services' timeoutStopSec, or give control-group services killMode \"mixed\"",
        );
    });

    test("an excess of 1 ms is shown as 1 ms, not rounded away", () => {
        const plan = planGuest([{ name: "h", exec: { command: ["true"] }, timeout: "1.5s" }], { margin: "2s" });
        // 1.5s + 1s kill grace + 1s unit grace + 2s margin = 5.5s
        expect(checkGuestBudget(plan, 5_500, "libvirt").totalMs).toBe(5_500);
        const error = thrown(() => checkGuestBudget(plan, 5_499, "libvirt"));
        expect(error.message).toMatch(
            /up to 5\.5s: h 2\.5s \(1\.5s \+ 1s kill grace\) \+ preStop unit grace 1s \+ margin 2s; that is 1ms more than gracefulShutdownTimeout 5\.499s/,
        );
    });

    test("exact durations", () => {
        expect([1, 999, 1_000, 1_500, 60_001, 90_000, 3_600_000, 3_661_010].map(formatExactDuration)).toEqual([
            "1ms",
            "999ms",
            "1s",
            "1.5s",
            "1m0.001s",
            "1m30s",
            "1h",
            "1h1m1.01s",
        ]);
    });

    test("a plan that fits exactly is accepted", () => {
        expect(checkGuestBudget(issueExample, 167_000, "vsphere").totalMs).toBe(167_000);
        expect(() => checkGuestBudget(issueExample, 166_999, "vsphere")).toThrow(InputError);
    });

    test("on Azure, more than 5 minutes is an error even when gracefulShutdownTimeout is longer", () => {
        const long = planGuest([{ name: "drain", drain: { seconds: "4m", createFile: "/run/d" } }], {
            services: [{ name: "db", timeoutStopSec: "30s", killMode: "mixed" }],
        });
        expect(checkGuestBudget(long, 600_000, "proxmox").totalMs).toBe(281_000);
        const error = thrown(() => checkGuestBudget(long, 280_000, "azure"));
        expect(error.message).toMatch(/more than gracefulShutdownTimeout 4m40s/);
        const azure = planGuest([{ name: "drain", drain: { seconds: "4m30s", createFile: "/run/d" } }], {
            services: [{ name: "db", timeoutStopSec: "30s", killMode: "mixed" }],
        });
        expect(() => checkGuestBudget(azure, 600_000, "azure")).toThrow(
            /drain 4m30s \+ preStop unit grace 1s \+ db stop 30s \(1 × 30s, KillMode=mixed\) \+ margin 10s; that is 11s more than the 5m Azure gives a guest to shut down/,
        );
    });

    test("nothing to run means nothing to check", () => {
        expect(checkGuestBudget(planGuest(undefined, { installGuestAgent: true }), 1_000, "libvirt").items).toEqual([]);
    });
});
