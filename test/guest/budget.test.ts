import { checkGuestBudget, guestBudget } from "../../src/guest/budget";
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

describe("time budget", () => {
    test("adds the hooks, the services' stop timeouts and the margin", () => {
        const budget = guestBudget(issueExample);
        expect(budget.items).toEqual([
            { label: "drain", ms: 30_000 },
            { label: "deregister", ms: 5_000 },
            { label: "app stop", ms: 60_000 },
        ]);
        expect([budget.hooksMs, budget.servicesMs, budget.marginMs, budget.totalMs]).toEqual([35_000, 60_000, 10_000, 105_000]);
    });

    test("a plan that cannot fit names every number", () => {
        const error = thrown(() => checkGuestBudget(issueExample, 90_000, "libvirt"));
        expect(error.field).toBe("preStop");
        expect(error.message).toBe(
            "preStop: hooks and services need 1m35s (drain 30s + deregister 5s + app stop 1m) plus a 10s margin = 1m45s, more than gracefulShutdownTimeout 1m30s; raise gracefulShutdownTimeout or shorten the hooks",
        );
    });

    test("a plan that fits exactly is accepted", () => {
        expect(checkGuestBudget(issueExample, 105_000, "vsphere").totalMs).toBe(105_000);
        expect(() => checkGuestBudget(issueExample, 104_999, "vsphere")).toThrow(InputError);
    });

    test("on Azure, more than 5 minutes is an error even when gracefulShutdownTimeout is longer", () => {
        const long = planGuest([{ name: "drain", drain: { seconds: "4m", createFile: "/run/d" } }], {
            services: [{ name: "db", timeoutStopSec: "1m" }],
        });
        expect(checkGuestBudget(long, 600_000, "proxmox").totalMs).toBe(310_000);
        const error = thrown(() => checkGuestBudget(long, 600_000, "azure"));
        expect(error.message).toMatch(
            /drain 4m \+ db stop 1m\) plus a 10s margin = 5m10s, more than the 5m Azure gives a guest to shut down/,
        );
        expect(
            checkGuestBudget(
                planGuest([{ name: "drain", drain: { seconds: "4m", createFile: "/run/d" } }], { margin: "20s" }),
                600_000,
                "azure",
            ).totalMs,
        ).toBe(260_000);
    });

    test("nothing to run means nothing to check", () => {
        expect(checkGuestBudget(planGuest(undefined, { installGuestAgent: true }), 1_000, "libvirt").items).toEqual([]);
    });
});
