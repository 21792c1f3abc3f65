import { execFile } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { TransitionReport } from "../../src/power/report";
import { describeWithPeer } from "../helpers/peers";
import { PeerEnv, libvirtTransports, useSshCommand, withGuest } from "../libvirt/guests";

/**
 * The installed `graceful-vm` bin (compiled, lib/src/cli/main.js) against real QEMU guests on
 * the libvirt peer: real exit codes, JSON on stdout, progress on stderr.
 */

const bin = path.join(__dirname, "../../lib/src/cli/main.js");

interface Run {
    readonly code: number;
    readonly stdout: string;
    readonly stderr: string;
}

function graceful(args: readonly string[]): Promise<Run> {
    if (!fs.existsSync(bin)) throw new Error(`${bin} is missing: run "npm run build" first (npm test does)`);
    return new Promise((resolve) => {
        execFile(process.execPath, [bin, ...args], { timeout: 90_000, env: { ...process.env, LC_ALL: "C" } }, (error, stdout, stderr) => {
            const code = error ? (typeof error.code === "number" ? error.code : -1) : 0;
            resolve({ code, stdout, stderr });
        });
    });
}

for (const transport of libvirtTransports) {
    describeWithPeer(`graceful-vm CLI on real libvirt guests (${transport.name})`, transport.peer, transport.variables, (peerEnv) => {
        // The driver reaches libvirt through this transport; the guests are managed locally.
        const env: PeerEnv = transport.prepare(peerEnv);
        useSshCommand(env);
        // Includes waiting for one of the two guest slots shared with the other libvirt test files.
        jest.setTimeout(360_000);
        const target = (domain: string) => ["--libvirt-uri", env.LVPEER_URI, "--domain", domain];
        /** `off --graceful` by the power button with this deadline (and any extra flags), reporting JSON. */
        const offByAcpi = (domain: string, timeout: string, ...flags: string[]) =>
            graceful(["off", "--graceful", "--timeout", timeout, ...flags, "--shutdown-mode", "acpi", ...target(domain), "--json"]);

        test.concurrent("graceful guest: on, status, off --graceful (exit 0), off again (nothing to do)", async () => {
            await withGuest(env, "cli-ok", "graceful", [], async (guest) => {
                guest.truncateLogs();
                const on = await graceful(["on", ...target(guest.name), "--json"]);
                expect(on.code).toBe(0);
                expect(JSON.parse(on.stdout) as TransitionReport).toMatchObject({ from: "stopped", to: "running", method: "powerOn" });
                await guest.waitReady();

                const status = await graceful(["status", ...target(guest.name), "--json"]);
                expect(status.code).toBe(0);
                expect(JSON.parse(status.stdout)).toEqual({
                    platform: "libvirt",
                    vm: `${env.LVPEER_URI} domain ${guest.name}`,
                    state: "running",
                    detail: "running (booted)",
                });

                const off = await offByAcpi(guest.name, "30s");
                expect(off.code).toBe(0);
                const report = JSON.parse(off.stdout) as TransitionReport;
                expect(report).toMatchObject({
                    to: "stopped",
                    method: "graceful",
                    gracefulMethod: "acpi",
                    stateDetail: "shut off (shutdown)",
                    gracefulTimeoutMs: 30_000,
                });
                expect(off.stderr).toMatch(/waiting for the guest to shut down \(\d+\.\ds elapsed, \d+\.\ds left\)/);
                expect(guest.hookLog()).toContain("prestop: done");

                const again = await graceful(["off", "--graceful", ...target(guest.name)]);
                expect(again.code).toBe(0);
                expect(again.stdout).toMatch(/stopped -> stopped \(OffGraceful\) by none/);

                const human = await graceful(["status", ...target(guest.name)]);
                expect(human.stdout.trim()).toBe(`${env.LVPEER_URI} domain ${guest.name}: stopped (shut off (shutdown))`);
            });
        });

        test.concurrent("hung guest: --no-force fails (exit 1) and leaves it running; without it, forced (exit 3)", async () => {
            await withGuest(env, "cli-hung", "hung", [], async (guest) => {
                expect((await graceful(["on", ...target(guest.name), "--quiet"])).code).toBe(0);
                await guest.waitReady();

                const strict = await offByAcpi(guest.name, "3s", "--no-force");
                expect(strict.code).toBe(1);
                expect(JSON.parse(strict.stdout)).toMatchObject({
                    errorType: "PowerTransitionError",
                    report: { fallbackReason: "timeout", to: "running" },
                });
                expect(strict.stderr).toMatch(/forcing is disabled/);
                expect(await guest.state()).toMatch(/^running/);

                const forced = await offByAcpi(guest.name, "3s");
                expect(forced.code).toBe(3);
                expect(JSON.parse(forced.stdout)).toMatchObject({
                    method: "forced",
                    fallbackReason: "timeout",
                    stateDetail: "shut off (destroyed)",
                });

                const hard = await graceful(["off", ...target(guest.name)]);
                expect(hard.code).toBe(0);
            });
        });

        test("a missing domain is exit 1 with a clear message; a bad URI is exit 2", async () => {
            const missing = await graceful(["status", ...target("gvm-cli-no-such-domain")]);
            expect(missing.code).toBe(1);
            expect(missing.stderr).toMatch(/gvm-cli-no-such-domain .* was not found/);
            const bad = await graceful(["status", "--libvirt-uri", "qemu:///system?socket=/x|y", "--domain", "d"]);
            expect(bad.code).toBe(2);
            expect(bad.stderr).toMatch(/target\.libvirt\.uri/);
        });
    });
}
