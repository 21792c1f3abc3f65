import { ChildProcess, execFile, spawn } from "child_process";
import { AuthenticationError, TransientError, VmNotFoundError } from "../../power/errors";

/**
 * Runs libvirt's own client, `virsh`, so every URI libvirt supports works (local sockets,
 * `qemu+ssh://`, `?socket=`) without a native binding. Always an argument array, never a shell,
 * and always with a timeout of its own.
 */

/** The environment every virsh call gets: untranslated messages, since we parse them. */
export function virshEnvironment(): NodeJS.ProcessEnv {
    return { ...process.env, LC_ALL: "C", LANG: "C" };
}

/** `GRACEFUL_VM_VIRSH` points at another virsh (a wrapper, a non-standard install). */
export function virshBinary(): string {
    return process.env.GRACEFUL_VM_VIRSH || "virsh";
}

export interface VirshResult {
    readonly stdout: string;
    readonly stderr: string;
}

/** A virsh call that failed; `stderr` is libvirt's message (`error: ...` lines). */
export class VirshError extends Error {
    constructor(
        public readonly command: string,
        public readonly stderr: string,
        public readonly timedOut: boolean,
        public readonly exitCode: number | null,
    ) {
        super(
            timedOut
                ? `virsh ${command} did not finish in time`
                : `virsh ${command} failed: ${cleanMessage(stderr) || `exit code ${exitCode}`}`,
        );
        this.name = "VirshError";
    }

    /** libvirt's message without virsh's `error:` prefixes, on one line. */
    get libvirtMessage(): string {
        return cleanMessage(this.stderr);
    }
}

export function cleanMessage(stderr: string): string {
    return stderr
        .split("\n")
        .map((line) => line.replace(/^error:\s*/, "").trim())
        .filter((line) => line.length > 0)
        .join("; ");
}

export class Virsh {
    constructor(
        public readonly uri: string,
        private readonly timeoutMs: number,
    ) {}

    /** Runs `virsh -c URI ARGS...`; resolves with its output or rejects with a VirshError. */
    run(args: readonly string[], timeoutMs = this.timeoutMs): Promise<VirshResult> {
        const command = args[0] ?? "";
        return new Promise((resolve, reject) => {
            execFile(
                virshBinary(),
                ["-q", "-c", this.uri, ...args],
                { env: virshEnvironment(), timeout: timeoutMs, killSignal: "SIGKILL", maxBuffer: 4 * 1024 * 1024, windowsHide: true },
                (error, stdout, stderr) => {
                    if (!error) return resolve({ stdout, stderr });
                    const spawnError = error as NodeJS.ErrnoException;
                    if (spawnError.code === "ENOENT") {
                        return reject(
                            new Error(
                                `${virshBinary()} was not found: install libvirt's client (Debian/Ubuntu: libvirt-clients; RHEL/Fedora: libvirt-client)`,
                            ),
                        );
                    }
                    const timedOut = error.killed === true && error.signal === "SIGKILL";
                    reject(new VirshError(command, stderr, timedOut, typeof error.code === "number" ? error.code : null));
                },
            );
        });
    }

    /**
     * Starts a long-running virsh (event loop, blocking agent shutdown); the caller ends it.
     * If this process exits first (Ctrl-C on the CLI), it is ended too: `event --loop` would
     * otherwise outlive us for good.
     */
    spawn(args: readonly string[]): ChildProcess {
        const child = spawn(virshBinary(), ["-q", "-c", this.uri, ...args], {
            env: virshEnvironment(),
            stdio: ["ignore", "pipe", "pipe"],
            windowsHide: true,
        });
        endWithThisProcess(child);
        return child;
    }
}

const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

function endWithThisProcess(child: ChildProcess): void {
    liveChildren.add(child);
    child.once("exit", () => liveChildren.delete(child));
    child.once("error", () => liveChildren.delete(child));
    if (exitHookInstalled) return;
    exitHookInstalled = true;
    process.once("exit", () => {
        for (const running of liveChildren) running.kill("SIGTERM");
    });
}

const notFoundPattern = /failed to get domain|domain not found|no domain with matching/i;
const connectPattern =
    /failed to connect to the hypervisor|failed to connect socket|no connection driver available|cannot recv data|end of file while reading data|connection reset/i;
const authPattern = /authentication failed|authentication unavailable|access denied|permission denied|not authorized/i;

/**
 * Turns a failed call into the errors the sequence understands: a missing domain, refused
 * credentials, an unreachable daemon. Anything else stays a VirshError.
 */
export function classifyVirshError(error: unknown, uri: string, domain: string): Error {
    if (!(error instanceof VirshError)) return error instanceof Error ? error : new Error(String(error));
    const message = error.libvirtMessage;
    // A hung or restarting daemon is worth waiting out within the deadline (the sequence retries).
    if (error.timedOut) {
        return new TransientError(
            `libvirt at ${uri} did not answer "virsh ${error.command}" for domain ${domain} in time; is the daemon (or the SSH link) hung?`,
            { cause: error },
        );
    }
    if (notFoundPattern.test(message)) return new VmNotFoundError(`${domain} (libvirt ${uri})`, message);
    if (authPattern.test(message) && connectPattern.test(message)) {
        return new AuthenticationError(`libvirt at ${uri} refused the connection: ${message}`);
    }
    if (connectPattern.test(message)) {
        return new TransientError(
            `cannot connect to libvirt at ${uri}: ${message}. Check the URI and that libvirtd (or virtqemud) is running and reachable`,
            { cause: error },
        );
    }
    return error;
}
