import * as fs from "fs";
import { LibvirtDriver } from "../src/drivers/libvirt/driver";
import { parseLibvirtTarget } from "../src/drivers/libvirt/spec";
import { systemClock } from "../src/power/clock";
import { runTransition } from "../src/power/transition";
import { PeerEnv, defineGuest, libvirtPeerVariables, splitSshCommand } from "../test/libvirt/guests";

/**
 * What one graceful stop costs over `qemu+ssh://`: SSH logins (counted in sshd's log), driver
 * calls (the report), wall time, and the time spent in calls other than the waits, with a new
 * SSH login per virsh call (libvirt's default, `sshConnectionReuse: false`) and with the
 * driver's ssh ControlMaster (src/drivers/libvirt/sshShare.ts). Needs the libvirt peer and its
 * loopback sshd front (LVPEER_SSH_URI, and LVPEER_SSH_LOG: sshd's log at LogLevel VERBOSE):
 *
 *   npx tsc -p tsconfig.bench.json --outDir /tmp/bench-out && node /tmp/bench-out/bench/libvirt-ssh-reuse.js [ROUNDS]
 */

interface Sample {
    readonly variant: "login per call" | "ControlMaster";
    readonly logins: number;
    readonly calls: number;
    readonly ms: number;
    /** Time in calls that are not waits: what SSH logins add to. */
    readonly callMs: number;
}

function logins(logFile: string): number {
    return (fs.readFileSync(logFile, "utf8").match(/Accepted publickey/g) ?? []).length;
}

async function main(): Promise<void> {
    const env: PeerEnv = {};
    for (const name of libvirtPeerVariables) {
        const value = process.env[name];
        if (!value) return console.log(`libvirt-ssh-reuse: skipped, the libvirt peer is not running (${name} unset)`);
        env[name] = value;
    }
    const sshdLog = process.env.LVPEER_SSH_LOG;
    if (!process.env.LVPEER_SSH_URI || !sshdLog) return console.log("libvirt-ssh-reuse: skipped, LVPEER_SSH_URI / LVPEER_SSH_LOG not set");
    // A target may not name a program: the peer's ssh wrapper (its known_hosts) goes to GRACEFUL_VM_SSH.
    const { uri, ssh } = splitSshCommand(process.env.LVPEER_SSH_URI);
    if (ssh) process.env.GRACEFUL_VM_SSH = ssh;
    const rounds = Number(process.argv[2] ?? 3);
    const guest = defineGuest(env, "bench-ssh", "graceful");
    const samples: Sample[] = [];
    try {
        for (let round = 0; round < rounds; round++) {
            for (const [variant, sshConnectionReuse] of [
                ["login per call", false],
                ["ControlMaster", true],
            ] as const) {
                await guest.start();
                await guest.waitReady();
                const driver = new LibvirtDriver(
                    parseLibvirtTarget({ uri, domain: guest.name, shutdownMode: "acpi" }, "target.libvirt"),
                    {
                        clock: systemClock,
                        log: () => undefined,
                    },
                    { sshConnectionReuse },
                );
                const before = logins(sshdLog);
                const started = Date.now();
                try {
                    const report = await runTransition(driver, systemClock, { desired: "OffGraceful", gracefulTimeoutMs: 60_000 });
                    if (report.method !== "graceful") throw new Error(`not graceful: ${report.method}`);
                    const ms = Date.now() - started;
                    const callMs = report.calls.filter((c) => c.op !== "waitForState").reduce((a, c) => a + c.durationMs, 0);
                    // The event watcher's login counts too: it is part of the run.
                    samples.push({ variant, logins: logins(sshdLog) - before, calls: report.calls.length, ms, callMs });
                } finally {
                    await driver.close();
                }
            }
        }
    } finally {
        await guest.remove();
    }
    for (const variant of ["login per call", "ControlMaster"] as const) {
        const mine = samples.filter((s) => s.variant === variant);
        const avg = (f: (s: Sample) => number): number => mine.reduce((a, s) => a + f(s), 0) / mine.length;
        console.log(
            `${variant}: ${avg((s) => s.logins).toFixed(1)} SSH logins, ${avg((s) => s.calls).toFixed(1)} driver calls, ` +
                `${avg((s) => s.ms).toFixed(0)} ms per graceful stop, ${avg((s) => s.callMs).toFixed(0)} ms of it in non-wait calls ` +
                `(n=${mine.length}; ms: ${mine.map((s) => s.ms).join(", ")})`,
        );
    }
    const ratio = (f: (s: Sample) => number): string => {
        const a = samples.filter((s) => s.variant === "login per call");
        const b = samples.filter((s) => s.variant === "ControlMaster");
        return (a.reduce((x, s) => x + f(s), 0) / b.reduce((x, s) => x + f(s), 0)).toFixed(2);
    };
    console.log(
        `ratio login-per-call / ControlMaster: logins ${ratio((s) => s.logins)}x, wall time ${ratio((s) => s.ms)}x, non-wait call time ${ratio((s) => s.callMs)}x`,
    );
}

void main().catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
});
