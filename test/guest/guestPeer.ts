import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { tempDir } from "./helpers";

/**
 * Drives the systemd + cloud-init guest peer (test/peers/systemd-guest; scripts/peers/systemd-guest.sh
 * prints SGP_PEER_DIR): boots rendered user-data in a fresh Debian container, runs probes in it,
 * optionally reboots it, powers it off as an ACPI button press does, and returns what it logged.
 * Guest and host share the clock, so times from the guest's journal and from the events log the
 * guest writes to a bind-mounted host directory compare directly.
 */

export interface Event {
    readonly time: number;
    readonly text: string;
}

/** `<unix time> <text>` lines: the events log, and `journalctl -o short-unix`. */
export function readEvents(file: string): Event[] {
    if (!fs.existsSync(file)) return [];
    return fs
        .readFileSync(file, "utf8")
        .split("\n")
        .filter((line) => line.trim() !== "")
        .map((line) => {
            const space = line.indexOf(" ");
            return { time: Number(line.slice(0, space)), text: line.slice(space + 1) };
        });
}

export function find(events: readonly Event[], pattern: RegExp): Event {
    const event = events.find((e) => pattern.test(e.text));
    if (!event) throw new Error(`no event matching ${pattern} in:\n${events.map((e) => `${e.time} ${e.text}`).join("\n")}`);
    return event;
}

export function findAll(events: readonly Event[], pattern: RegExp): Event[] {
    return events.filter((e) => pattern.test(e.text));
}

export interface ProbeResult {
    readonly status: number | null;
    readonly stdout: string;
}

export interface GuestRun {
    /** run.sh's exit status: 0 cloud-init done, 3 cloud-init reported an error, 1 no boot. */
    readonly bootStatus: number | null;
    readonly events: Event[];
    /** Every boot's journal. */
    readonly journal: Event[];
    /** The probes' results, taken after boot and before the shutdown. */
    readonly probes: Readonly<Record<string, ProbeResult>>;
    /** With `reboot`: shutdown.sh's result for the reboot (`reboot`), and the probes after it. */
    readonly rebootResult?: string;
    readonly probesAfterReboot: Readonly<Record<string, ProbeResult>>;
    readonly shutdownSeconds: number;
    /** `poweroff`, or what went wrong. */
    readonly shutdownResult: string;
}

export interface BootOptions {
    /** How long the guest may take to shut down (and to reboot) before it is killed. */
    readonly shutdownTimeoutSeconds: number;
    /** How long run.sh waits for cloud-init to finish. @default 120 */
    readonly bootTimeoutSeconds?: number;
    /** Boot even when cloud-init reports an error (run.sh exit 3), as a failing user runcmd makes it. @default false */
    readonly allowCloudInitError?: boolean;
    /** Commands run in the guest once it has booted (and again after a reboot), by name. */
    readonly probes?: Readonly<Record<string, readonly string[]>>;
    /** Reboot first (the guest comes back up on the same disk), then power off. @default false */
    readonly reboot?: boolean;
}

function keyValues(text: string): Record<string, string> {
    return Object.fromEntries(
        text
            .split("\n")
            .filter((l) => /^[A-Z_]+=/.test(l))
            .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
    );
}

export function bootAndShutDown(peerDir: string, name: string, userData: string, options: BootOptions): GuestRun {
    const work = tempDir(name);
    const logDir = path.join(work, "logs");
    fs.mkdirSync(logDir);
    const userDataFile = path.join(work, "user-data");
    fs.writeFileSync(userDataFile, userData);
    const script = (file: string): string => path.join(peerDir, file);
    const run = spawnSync(
        "bash",
        [
            script("run.sh"),
            "--name",
            name,
            "--user-data",
            userDataFile,
            "--log-dir",
            logDir,
            "--timeout",
            String(options.bootTimeoutSeconds ?? 120),
        ],
        { encoding: "utf8" },
    );
    const probe = (): Record<string, ProbeResult> => {
        const results: Record<string, ProbeResult> = {};
        for (const [probeName, command] of Object.entries(options.probes ?? {})) {
            const result = spawnSync("bash", [script("exec.sh"), name, ...command], { encoding: "utf8" });
            results[probeName] = { status: result.status, stdout: result.stdout };
        }
        return results;
    };
    try {
        const booted = run.status === 0 || (run.status === 3 && options.allowCloudInitError === true);
        if (!booted) throw new Error(`run.sh exited ${run.status} (3 = cloud-init error, 1 = no boot):\n${run.stderr.slice(-3000)}`);
        const probes = probe();
        let rebootResult: string | undefined;
        let probesAfterReboot: Record<string, ProbeResult> = {};
        if (options.reboot) {
            rebootResult = shutDown(peerDir, name, options, ["--reboot"]).shutdownResult;
            probesAfterReboot = probe();
        }
        const down = shutDown(peerDir, name, options, []);
        return {
            bootStatus: run.status,
            events: readEvents(path.join(logDir, "events.log")),
            journal: readEvents(path.join(logDir, "guest", "journal.txt")),
            probes,
            rebootResult,
            probesAfterReboot,
            ...down,
        };
    } finally {
        spawnSync("bash", [script("stop.sh"), name, "--purge"], { encoding: "utf8" });
    }
}

function shutDown(
    peerDir: string,
    name: string,
    options: BootOptions,
    extra: readonly string[],
): Pick<GuestRun, "shutdownSeconds" | "shutdownResult"> {
    const down = spawnSync(
        "bash",
        [path.join(peerDir, "shutdown.sh"), name, ...extra, "--timeout", String(options.shutdownTimeoutSeconds), "--kill-on-timeout"],
        { encoding: "utf8" },
    );
    const vars = keyValues(down.stdout);
    return {
        shutdownSeconds: Number(vars.SGP_SHUTDOWN_SECONDS),
        shutdownResult: vars.SGP_SHUTDOWN_RESULT ?? `shutdown.sh exited ${down.status}: ${down.stderr.slice(-2000)}`,
    };
}

/** `systemctl show` output (blocks of `Key=value` lines) as one record per unit. */
export function parseShow(text: string): Array<Record<string, string>> {
    return text
        .trim()
        .split("\n\n")
        .map((block) =>
            Object.fromEntries(
                block
                    .trim()
                    .split("\n")
                    .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
            ),
        );
}
