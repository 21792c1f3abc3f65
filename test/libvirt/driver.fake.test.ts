import { LibvirtDriver, LibvirtDriverOptions } from "../../src/drivers/libvirt/driver";
import { parseLibvirtTarget } from "../../src/drivers/libvirt/spec";
import { systemClock } from "../../src/power/clock";
import { VmNotFoundError } from "../../src/power/errors";
import { TransitionReport } from "../../src/power/report";
import { DesiredPowerState } from "../../src/power/states";
import { runTransition } from "../../src/power/transition";
import { FakeDomain, FakeVirsh } from "./fakeVirsh";

/**
 * The libvirt driver's own logic without libvirt: a fake `virsh` (GRACEFUL_VM_VIRSH) that answers
 * like the real one. Proves what is hard to time on real guests: the wait wakes on the event,
 * not the poll; a blocking agent request does not hold the deadline; a guest finishing at the
 * deadline is graceful; errors are classified.
 */

const graceful: FakeDomain = { state: "running", reason: "booted", guest: "graceful", agent: true, shutdownDelayMs: 300 };

describe("libvirt driver logic (fake virsh)", () => {
    let fake: FakeVirsh;
    const saved = { virsh: process.env.GRACEFUL_VM_VIRSH, state: process.env.FAKE_VIRSH_STATE };

    function setUp(domains: Record<string, FakeDomain>): void {
        fake = new FakeVirsh(domains);
        fake.install();
    }
    afterEach(() => {
        fake?.remove();
        process.env.GRACEFUL_VM_VIRSH = saved.virsh ?? "";
        process.env.FAKE_VIRSH_STATE = saved.state ?? "";
        if (!saved.virsh) delete process.env.GRACEFUL_VM_VIRSH;
        if (!saved.state) delete process.env.FAKE_VIRSH_STATE;
    });

    function driver(
        domain: string,
        target: Record<string, unknown> = {},
        options: LibvirtDriverOptions = {},
        logs: string[] = [],
    ): LibvirtDriver {
        return new LibvirtDriver(
            parseLibvirtTarget({ uri: "qemu:///system", domain, ...target }, "target.libvirt"),
            { clock: systemClock, log: (m) => logs.push(m) },
            options,
        );
    }

    async function run(d: LibvirtDriver, desired: DesiredPowerState, gracefulTimeoutMs: number, force = true): Promise<TransitionReport> {
        try {
            return await runTransition(d, systemClock, { desired, gracefulTimeoutMs, force });
        } finally {
            await d.close();
        }
    }

    test("the graceful wait wakes on libvirt's lifecycle event, not on the poll", async () => {
        setUp({ web: { ...graceful } });
        const report = await run(driver("web", { shutdownMode: "acpi" }, { pollIntervalMs: 30_000 }), "OffGraceful", 20_000);
        expect(report).toMatchObject({ method: "graceful", gracefulMethod: "acpi", to: "stopped", stateDetail: "shut off (shutdown)" });
        const wait = report.phases.find((p) => p.phase === "gracefulWait");
        // The guest stops after 300 ms; a 30 s poll would have returned after 30 s.
        expect(wait?.durationMs).toBeLessThan(3_000);
        expect(fake.journal()).toEqual(["shutdown acpi"]);
    });

    test("a hung agent request (libvirt blocks 60 s) runs in the background; our deadline decides", async () => {
        setUp({ web: { ...graceful, guest: "hung" } });
        const started = Date.now();
        const report = await run(driver("web", { shutdownMode: "agent" }), "OffGraceful", 2_000);
        expect(report).toMatchObject({
            method: "forced",
            gracefulMethod: "agent",
            fallbackReason: "timeout",
            stateDetail: "shut off (destroyed)",
        });
        const request = report.calls.find((c) => c.op === "requestGuestShutdown");
        expect(request?.durationMs).toBeLessThan(2_000);
        expect(Date.now() - started).toBeLessThan(8_000);
        expect(fake.journal()).toEqual(["shutdown agent", "destroy"]);
    });

    test("agent mode without a connected agent: toolsUnavailable, forced at once", async () => {
        setUp({ web: { ...graceful, agent: false } });
        const report = await run(driver("web", { shutdownMode: "agent" }), "OffGraceful", 20_000);
        expect(report).toMatchObject({ method: "forced", fallbackReason: "toolsUnavailable", stateDetail: "shut off (destroyed)" });
        expect(report.fallbackDetail).toMatch(/QEMU guest agent is not connected/);
        expect(report.durationMs).toBeLessThan(5_000);
        expect(fake.journal()).toEqual(["destroy"]);
    });

    test("auto mode: agent when it answers, the power button when not", async () => {
        setUp({ a: { ...graceful }, b: { ...graceful, agent: false } });
        expect(await run(driver("a"), "OffGraceful", 20_000)).toMatchObject({ method: "graceful", gracefulMethod: "agent" });
        const b = await run(driver("b"), "OffGraceful", 20_000);
        expect(b).toMatchObject({ method: "graceful", gracefulMethod: "acpi" });
        expect(b.guestTools).toMatch(/not connected.*ACPI/);
        expect(fake.journal()).toEqual(["shutdown agent", "shutdown acpi"]);
    });

    test("a guest that finishes its shutdown as destroy arrives ('domain is not running') counts as graceful", async () => {
        setUp({ web: { ...graceful, guest: "hung", finishesAtDestroy: true } });
        const report = await run(driver("web", { shutdownMode: "acpi" }), "OffGraceful", 500);
        expect(report).toMatchObject({ method: "graceful", to: "stopped", stateDetail: "shut off (shutdown)" });
        expect(report.fallbackReason).toBeUndefined();
        expect(report.notes.join(" ")).toMatch(/finished shutting down at the deadline/);
    });

    test("power on: start, or resume a paused domain; already running does nothing", async () => {
        setUp({
            off: { ...graceful, state: "shut off", reason: "shutdown" },
            paused: { ...graceful, state: "paused", reason: "user" },
            on: { ...graceful },
        });
        expect(await run(driver("off"), "On", 1_000)).toMatchObject({ method: "powerOn", from: "stopped", to: "running" });
        expect(await run(driver("paused"), "On", 1_000)).toMatchObject({ method: "powerOn", from: "paused", to: "running" });
        expect(await run(driver("on"), "On", 1_000)).toMatchObject({ method: "none" });
        expect(fake.journal()).toEqual(["start", "resume"]);
    });

    test("errors: unknown domain, unreachable daemon, hung daemon, missing virsh", async () => {
        setUp({ web: { ...graceful }, stuck: { ...graceful, hangDomstate: true } });
        await expect(driver("nope").readState()).rejects.toThrow(VmNotFoundError);
        const unreachable = new LibvirtDriver(parseLibvirtTarget({ uri: "qemu:///nodaemon", domain: "web" }, "f"), {
            clock: systemClock,
            log: () => undefined,
        });
        await expect(unreachable.readState()).rejects.toThrow(
            /cannot connect to libvirt at qemu:\/\/\/nodaemon: failed to connect to the hypervisor; Failed to connect socket/,
        );
        await expect(driver("stuck", { commandTimeout: "1s" }).readState()).rejects.toThrow(
            /did not answer "virsh domstate" for domain stuck in time/,
        );
        process.env.GRACEFUL_VM_VIRSH = "/nonexistent/virsh";
        await expect(driver("web").readState()).rejects.toThrow(/\/nonexistent\/virsh was not found: install libvirt's client/);
    });

    test("close() ends the event watcher and background requests, and is safe twice", async () => {
        setUp({ web: { ...graceful, guest: "hung" } });
        const d = driver("web", { shutdownMode: "agent" });
        await d.requestGuestShutdown(Date.now() + 5_000);
        const children = (d as unknown as { background: Set<{ pid?: number }> }).background;
        const pids = [...children].map((c) => c.pid).filter((p): p is number => p !== undefined);
        expect(pids.length).toBe(1);
        await d.close();
        await d.close();
        await new Promise((r) => setTimeout(r, 200));
        for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
    });
});
