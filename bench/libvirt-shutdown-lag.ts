import { ChildProcess, spawn } from "child_process";
import { createInterface } from "readline";
import { LibvirtDriver } from "../src/drivers/libvirt/driver";
import { parseLibvirtTarget } from "../src/drivers/libvirt/spec";
import { systemClock } from "../src/power/clock";
import { Guest, PeerEnv, defineGuest, libvirtPeerVariables } from "../test/libvirt/guests";

/**
 * How long after a guest reaches `shut off` does the driver return? The libvirt driver waits on
 * lifecycle events (with a 2 s safety poll); the baseline is the same driver polling
 * `domstate` every 2 s without events. Both on real QEMU guests of the libvirt peer, two at a
 * time (one per method each round, swapped every round so neither always gets the idle core).
 *
 * Reference point: libvirt's own timestamp of the `Stopped` lifecycle event, from an
 * independent `virsh event --timestamp` watcher.
 *
 *   npx tsc -p tsconfig.json --outDir /tmp/bench-out && node /tmp/bench-out/bench/libvirt-shutdown-lag.js [ROUNDS]
 */

type Method = "events" | "poll-2s";

interface Sample {
    readonly method: Method;
    readonly lagMs: number;
    readonly shutdownMs: number;
}

async function main(): Promise<void> {
    const env: PeerEnv = {};
    for (const name of libvirtPeerVariables) {
        const value = process.env[name];
        if (!value) {
            console.log(`libvirt-shutdown-lag: skipped, the libvirt peer is not running (${name} unset; see scripts/peers/libvirt.sh)`);
            return;
        }
        env[name] = value;
    }
    const rounds = Number(process.argv[2] ?? 6);
    const guests = [defineGuest(env, "bench-a", "graceful"), defineGuest(env, "bench-b", "graceful")];
    const samples: Sample[] = [];
    try {
        for (let round = 0; round < rounds; round++) {
            const methods: Method[] = round % 2 === 0 ? ["events", "poll-2s"] : ["poll-2s", "events"];
            const results = await Promise.all(guests.map((guest, i) => measure(env, guest, methods[i])));
            samples.push(...results);
            console.log(
                `round ${round + 1}/${rounds}: ${results.map((s) => `${s.method} lag ${s.lagMs} ms (off after ${s.shutdownMs} ms)`).join(", ")}`,
            );
        }
    } finally {
        await Promise.all(guests.map((g) => g.remove()));
    }
    const events = samples.filter((s) => s.method === "events").map((s) => s.lagMs);
    const poll = samples.filter((s) => s.method === "poll-2s").map((s) => s.lagMs);
    console.log("");
    console.log("lag from libvirt's Stopped event to the driver returning (ms):");
    console.log(
        `  events + 2 s safety poll: median ${median(events)}, min ${Math.min(...events)}, max ${Math.max(...events)}  (n=${events.length}; goal: median < 100)`,
    );
    console.log(
        `  plain 2 s polling loop:   median ${median(poll)}, min ${Math.min(...poll)}, max ${Math.max(...poll)}  (n=${poll.length})`,
    );
    console.log(`  ratio poll/events (medians): ${(median(poll) / Math.max(1, median(events))).toFixed(1)}x`);
}

async function measure(env: PeerEnv, guest: Guest, method: Method): Promise<Sample> {
    await guest.start();
    await guest.waitReady();
    const observer = watchStopped(env, guest.name);
    const driver = new LibvirtDriver(
        parseLibvirtTarget({ uri: env.LVPEER_URI, domain: guest.name, shutdownMode: "acpi" }, "target.libvirt"),
        { clock: systemClock, log: () => undefined },
        { useEvents: method === "events", pollIntervalMs: 2000 },
    );
    try {
        // Let the observer connect before anything happens.
        await new Promise((r) => setTimeout(r, 300));
        const asked = Date.now();
        await driver.requestGuestShutdown(asked + 60_000);
        const state = await driver.waitForState(["stopped"], asked + 60_000);
        const returned = Date.now();
        if (state.state !== "stopped") throw new Error(`${guest.name} did not stop: ${state.detail}`);
        const stoppedAt = await observer.stoppedAt;
        return { method, lagMs: returned - stoppedAt, shutdownMs: stoppedAt - asked };
    } finally {
        await driver.close();
        observer.child.kill("SIGTERM");
    }
}

/** An independent watcher: resolves with libvirt's timestamp of the domain's Stopped event. */
function watchStopped(env: PeerEnv, domain: string): { child: ChildProcess; stoppedAt: Promise<number> } {
    const child = spawn(
        "virsh",
        ["-q", "-c", env.LVPEER_URI, "event", "--domain", domain, "--event", "lifecycle", "--loop", "--timestamp"],
        {
            stdio: ["ignore", "pipe", "ignore"],
            env: { ...process.env, LC_ALL: "C", TZ: "UTC" },
        },
    );
    const stoppedAt = new Promise<number>((resolve, reject) => {
        createInterface({ input: child.stdout! }).on("line", (line) => {
            const match = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d\.\d+)([+-]\d{4}): event 'lifecycle' .*: Stopped/.exec(line);
            if (match) resolve(Date.parse(`${match[1]}T${match[2]}${match[3].slice(0, 3)}:${match[3].slice(3)}`));
        });
        child.on("exit", () => reject(new Error(`the observer for ${domain} ended before a Stopped event`)));
    });
    stoppedAt.catch(() => undefined);
    return { child, stoppedAt };
}

function median(values: readonly number[]): number {
    const sorted = [...values].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 ? sorted[mid] : Math.round((sorted[mid - 1] + sorted[mid]) / 2);
}

main().catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
});
