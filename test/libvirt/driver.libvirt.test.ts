import { describeWithPeer } from "../helpers/peers";
import { TransitionReport } from "../../src/power/report";
import { InputError, PowerTransitionError, VmNotFoundError } from "../../src/power/errors";
import { DesiredPowerState } from "../../src/power/states";
import { parseInputs } from "../../src/operations/inputs";
import { transition, withDriver } from "../../src/operations/run";
import { Guest, PeerEnv, libvirtTransports, useSshCommand, withGuest } from "./guests";

/**
 * The libvirt driver against real QEMU guests (TCG): graceful ACPI and agent shutdowns that run
 * the guest's pre-stop hook, hung guests forced after the deadline, slow and never-ending
 * pre-stop hooks, power on, already off, a missing domain and an unreachable daemon.
 */

function run(
    env: PeerEnv,
    domain: string,
    desired: DesiredPowerState,
    options: { timeout?: string; shutdownMode?: string; force?: boolean; waitForGuestAgent?: boolean } = {},
): Promise<TransitionReport> {
    const inputs = parseInputs({
        platform: "libvirt",
        target: { uri: env.LVPEER_URI, domain, ...(options.shutdownMode ? { shutdownMode: options.shutdownMode } : {}) },
        powerState: desired,
        gracefulShutdownTimeout: options.timeout ?? "20s",
        forceAfterTimeout: options.force ?? true,
        waitForGuestAgent: options.waitForGuestAgent ?? false,
    });
    return transition(inputs, desired);
}

/** Powers the guest on through the driver and waits until it can react (and its agent answers, if asked). */
async function boot(env: PeerEnv, guest: Guest, waitForGuestAgent = false): Promise<TransitionReport> {
    guest.truncateLogs();
    const report = await run(env, guest.name, "On", { waitForGuestAgent });
    await guest.waitReady();
    return report;
}

/** Boots the guest, then asks for a graceful stop with this shutdown mode and deadline. */
async function bootThenStop(
    env: PeerEnv,
    guest: Guest,
    shutdownMode: string,
    timeout: string,
    waitForGuestAgent = false,
): Promise<TransitionReport> {
    await boot(env, guest, waitForGuestAgent);
    return run(env, guest.name, "OffGraceful", { shutdownMode, timeout });
}

/** The report of a stop whose deadline passed, so the guest was destroyed. */
function forcedAfterTimeout(gracefulMethod: "acpi" | "agent"): Partial<TransitionReport> {
    return { to: "stopped", method: "forced", gracefulMethod, fallbackReason: "timeout", stateDetail: "shut off (destroyed)" };
}

function ops(report: TransitionReport): string[] {
    return report.calls.map((c) => c.op);
}

for (const transport of libvirtTransports) {
    describeWithPeer(`libvirt driver on real QEMU guests (${transport.name})`, transport.peer, transport.variables, (peerEnv) => {
        // The driver reaches libvirt through this transport; the guests are managed locally.
        const env: PeerEnv = transport.prepare(peerEnv);
        useSshCommand(env);
        // Includes waiting for one of the two guest slots shared with the other libvirt test files.
        jest.setTimeout(360_000);

        test.concurrent(
            "graceful ACPI shutdown runs the pre-stop hook and ends shut off (shutdown); a second run does nothing",
            async () => {
                await withGuest(env, "acpi", "graceful", [], async (guest) => {
                    const on = await boot(env, guest);
                    expect(on).toMatchObject({ from: "stopped", to: "running", method: "powerOn" });

                    const off = await run(env, guest.name, "OffGraceful", { shutdownMode: "acpi", timeout: "20s" });
                    expect(off).toMatchObject({
                        from: "running",
                        to: "stopped",
                        method: "graceful",
                        gracefulMethod: "acpi",
                        stateDetail: "shut off (shutdown)",
                    });
                    expect(off.fallbackReason).toBeUndefined();
                    expect(ops(off)).not.toContain("powerOffHard");
                    expect(off.durationMs).toBeLessThan(15_000);
                    const log = guest.hookLog();
                    expect(log).toContain("acpi: power button pressed");
                    expect(log).toContain("prestop: begin");
                    expect(log).toContain("prestop: done");
                    expect(await guest.state()).toBe("shut off (shutdown)");

                    const again = await run(env, guest.name, "OffGraceful", { shutdownMode: "acpi" });
                    expect(again).toMatchObject({ from: "stopped", to: "stopped", method: "none" });
                    expect(ops(again)).toEqual(["readState"]);
                });
            },
        );

        test.concurrent("a hung guest is destroyed after the deadline, never before", async () => {
            await withGuest(env, "hung", "hung", [], async (guest) => {
                const off = await bootThenStop(env, guest, "acpi", "5s");
                expect(off).toMatchObject(forcedAfterTimeout("acpi"));
                const destroy = off.phases.find((p) => p.phase === "hardPowerOff");
                expect(destroy?.startMs).toBeGreaterThanOrEqual(5_000);
                expect(destroy?.startMs).toBeLessThan(6_500);
                expect(guest.hookLog()).not.toContain("prestop:");
            });
        });

        test.concurrent("a slow pre-stop that finishes inside the deadline is not forced", async () => {
            await withGuest(env, "slow", "graceful", ["lvtest.prestop_delay=3"], async (guest) => {
                const off = await bootThenStop(env, guest, "acpi", "20s");
                expect(off).toMatchObject({ to: "stopped", method: "graceful", stateDetail: "shut off (shutdown)" });
                expect(off.durationMs).toBeGreaterThanOrEqual(3_000);
                expect(ops(off)).not.toContain("powerOffHard");
                expect(guest.hookLog()).toContain("prestop: done");
            });
        });

        test.concurrent("a pre-stop that never finishes is forced; auto mode used the connected agent", async () => {
            await withGuest(env, "forever", "graceful", ["lvtest.prestop_delay=forever"], async (guest) => {
                const off = await bootThenStop(env, guest, "auto", "6s", true);
                expect(off).toMatchObject(forcedAfterTimeout("agent"));
                expect(off.guestTools).toMatch(/guest agent answered/);
                const log = guest.hookLog();
                expect(log).toContain("agent: shutdown");
                expect(log).toContain("prestop: begin");
                expect(log).not.toContain("prestop: done");
            });
        });

        test.concurrent("agent mode: power on waits for the agent, then the agent shuts the guest down gracefully", async () => {
            await withGuest(env, "agent", "graceful", [], async (guest) => {
                guest.truncateLogs();
                const on = await run(env, guest.name, "On", { waitForGuestAgent: true });
                expect(on.phases.map((p) => p.phase)).toContain("agentWait");
                const off = await run(env, guest.name, "OffGraceful", { shutdownMode: "agent", timeout: "20s" });
                expect(off).toMatchObject({
                    to: "stopped",
                    method: "graceful",
                    gracefulMethod: "agent",
                    stateDetail: "shut off (shutdown)",
                });
                expect(ops(off)).not.toContain("powerOffHard");
                const log = guest.hookLog();
                expect(log).toContain("agent: shutdown");
                expect(log).toContain("prestop: done");
            });
        });

        test.concurrent(
            "without a connected agent: auto falls back to ACPI, agent mode forces at once, agent mode without force fails",
            async () => {
                await withGuest(env, "noagent", "graceful", ["lvtest.agent=0"], async (guest) => {
                    const auto = await bootThenStop(env, guest, "auto", "20s");
                    expect(auto).toMatchObject({
                        to: "stopped",
                        method: "graceful",
                        gracefulMethod: "acpi",
                        stateDetail: "shut off (shutdown)",
                    });
                    expect(auto.guestTools).toMatch(/not connected.*ACPI/);

                    await boot(env, guest);
                    const strict = run(env, guest.name, "OffGraceful", { shutdownMode: "agent", timeout: "20s", force: false });
                    await expect(strict).rejects.toThrow(PowerTransitionError);
                    await expect(strict).rejects.toThrow(/forcing is disabled/);
                    expect(await guest.state()).toMatch(/^running/);

                    const forced = await run(env, guest.name, "OffGraceful", { shutdownMode: "agent", timeout: "20s" });
                    expect(forced).toMatchObject({
                        to: "stopped",
                        method: "forced",
                        fallbackReason: "toolsUnavailable",
                        stateDetail: "shut off (destroyed)",
                    });
                    expect(forced.durationMs).toBeLessThan(10_000);
                    expect(guest.hookLog()).not.toContain("prestop:");
                });
            },
        );

        test.concurrent("agent mode on a hung guest is bounded by our deadline, not libvirt's 60 s", async () => {
            await withGuest(env, "agenthung", "hung", [], async (guest) => {
                const off = await bootThenStop(env, guest, "agent", "5s", true);
                expect(off).toMatchObject(forcedAfterTimeout("agent"));
                expect(off.durationMs).toBeLessThan(12_000);
            });
        });

        test("a missing domain is VmNotFoundError", async () => {
            const missing = run(env, "gvm-no-such-domain", "OffGraceful");
            await expect(missing).rejects.toThrow(VmNotFoundError);
            await expect(missing).rejects.toThrow(/gvm-no-such-domain/);
        });

        test("an unreachable daemon is a clear error naming the URI", async () => {
            const uri = "qemu:///system?socket=/nonexistent/libvirt-sock";
            const inputs = parseInputs({ platform: "libvirt", target: { uri, domain: "x" } });
            const read = withDriver(inputs, {}, (driver) => driver.readState());
            await expect(read).rejects.toThrow(/cannot connect to libvirt at qemu:\/\/\/system\?socket=\/nonexistent\/libvirt-sock/);
        });

        test("a malformed URI is an InputError before virsh runs", () => {
            expect(() => parseInputs({ platform: "libvirt", target: { uri: "qemu:///system; rm -rf /", domain: "x" } })).toThrow(
                InputError,
            );
        });
    });
}
