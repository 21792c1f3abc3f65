import { ChildProcess, ChildProcessByStdio, spawn } from "child_process";
import { Readable } from "stream";
import { AuthenticationError, TransientError, VmNotFoundError } from "../../power/errors";

/**
 * Runs libvirt's own client, `virsh`, so every URI libvirt supports works (local sockets,
 * `qemu+ssh://`, `?socket=`) without a native binding. Always an argument array, never a shell,
 * and always with a timeout of its own.
 */

/**
 * The environment every virsh call gets: untranslated messages, since we parse them, and no
 * askpass program for the `ssh` that `qemu+ssh://` runs (a prompt nobody answers is a hang).
 */
export function virshEnvironment(): NodeJS.ProcessEnv {
    return { ...process.env, LC_ALL: "C", LANG: "C", SSH_ASKPASS_REQUIRE: "never" };
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
        /** The signal that ended virsh when it was not our timeout (a broken pipe to ssh). */
        public readonly signal?: NodeJS.Signals | null,
    ) {
        super(
            timedOut
                ? `virsh ${command} did not finish in time`
                : `virsh ${command} failed: ${cleanMessage(stderr) || (exitCode === null ? `ended by ${signal ?? "a signal"}` : `exit code ${exitCode}`)}`,
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
        /** Where warnings about a call that worked go (a changed host key accepted by no_verify). */
        private readonly warn: (message: string) => void = () => undefined,
    ) {}

    /**
     * Runs `virsh -c URI ARGS...`; resolves with its output or rejects with a VirshError. virsh
     * runs in a process group (and session) of its own: on timeout the whole group is killed, so
     * the `ssh` of a `qemu+ssh://` URI is not left behind, and without a controlling terminal
     * ssh cannot stop to prompt for a password or a host key.
     */
    run(args: readonly string[], timeoutMs = this.timeoutMs): Promise<VirshResult> {
        const command = args[0] ?? "";
        return new Promise((resolve, reject) => {
            const child = this.spawn(args);
            let stdout = "";
            let stderr = "";
            child.stdout.setEncoding("utf8");
            child.stderr.setEncoding("utf8");
            child.stdout.on("data", (chunk: string) => {
                if (stdout.length < maxOutput) stdout += chunk;
            });
            child.stderr.on("data", (chunk: string) => {
                if (stderr.length < maxOutput) stderr += chunk;
            });
            let timedOut = false;
            const timer = setTimeout(() => {
                timedOut = true;
                killGroup(child, "SIGKILL");
            }, timeoutMs);
            child.once("error", (error: NodeJS.ErrnoException) => {
                clearTimeout(timer);
                if (error.code === "ENOENT") {
                    reject(
                        new Error(
                            `${virshBinary()} was not found: install libvirt's client (Debian/Ubuntu: libvirt-clients; RHEL/Fedora: libvirt-client)`,
                            { cause: error },
                        ),
                    );
                } else reject(error);
            });
            child.once("close", (code, signal) => {
                clearTimeout(timer);
                // Whatever virsh left in its group (an ssh still closing) goes with it.
                if (timedOut) killGroup(child, "SIGKILL");
                if (!timedOut && code === 0) {
                    if (hostKeyChanged.test(stderr)) this.warn(hostKeyChangedWarning);
                    return resolve({ stdout, stderr });
                }
                reject(new VirshError(command, stderr, timedOut, code, signal));
            });
        });
    }

    /**
     * Starts a long-running virsh (event loop, blocking agent shutdown); the caller ends it.
     * If this process exits first (Ctrl-C on the CLI), it is ended too: `event --loop` would
     * otherwise outlive us for good.
     */
    spawn(args: readonly string[]): ChildProcessByStdio<null, Readable, Readable> {
        const child = spawn(virshBinary(), ["-q", "-c", this.uri, ...args], {
            env: virshEnvironment(),
            stdio: ["ignore", "pipe", "pipe"],
            detached: true,
            windowsHide: true,
        });
        endWithThisProcess(child);
        return child;
    }
}

const maxOutput = 4 * 1024 * 1024;

/** Ends a child started with `detached: true` and everything in its process group. */
export function killGroup(child: ChildProcess, signal: NodeJS.Signals = "SIGTERM"): void {
    if (child.pid === undefined) return;
    try {
        process.kill(-child.pid, signal);
    } catch {
        // The group is gone already; the child itself may still need the signal.
        if (child.exitCode === null && child.signalCode === null) child.kill(signal);
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
        for (const running of liveChildren) killGroup(running, "SIGTERM");
    });
}

const notFoundPattern = /failed to get domain|domain not found|no domain with matching/i;
const connectPattern =
    /failed to connect to the hypervisor|failed to connect socket|no connection driver available|cannot recv data|end of file while reading data|connection reset|no valid connection/i;
const authPattern = /authentication failed|authentication unavailable|access denied|permission denied|not authorized/i;
const hostKeyChanged = /REMOTE HOST IDENTIFICATION HAS CHANGED|host key for .* has changed/i;

const hostKeyChangedWarning =
    "the SSH host key has CHANGED and ssh went on only because the URI has no_verify=1: " +
    "this may be someone in the middle; check the host's key, fix known_hosts (ssh-keygen -R HOST) and drop no_verify";

/**
 * What went wrong on the SSH leg of a `qemu+ssh://` URI, read from ssh's own words (libvirt
 * passes them on), with the fix. Checked before the libvirt patterns, which match the same
 * "cannot recv data" and would only say "is libvirtd running?". `transient`: an outage that may
 * end within the deadline (sshd or the remote daemon restarting, a reset link), waited out by
 * the sequence; the others (keys, logins, missing tools) will not change by waiting.
 */
const sshProblems: ReadonlyArray<{
    readonly pattern: RegExp;
    readonly auth?: boolean;
    readonly transient?: boolean;
    readonly explain: string;
}> = [
    {
        pattern: hostKeyChanged,
        explain:
            "the host's SSH key has CHANGED since it was recorded in known_hosts (a reinstalled host, or someone in the middle); " +
            "check the new key out of band, then ssh-keygen -R HOST and add the new one",
    },
    {
        pattern: /no \S+ host key is known for|host key verification failed|authenticity of host .* can't be established/i,
        explain:
            "the host's SSH key is not in known_hosts; add it once (ssh-keyscan -p PORT HOST >> ~/.ssh/known_hosts, after checking it) " +
            "or name another file with UserKnownHostsFile in your ssh config (GRACEFUL_VM_SSH may run ssh -F CONFIG); no_verify=1 skips the check (not recommended)",
    },
    {
        pattern: /permission denied \((publickey|password|keyboard-interactive|gssapi)[^)]*\)|too many authentication failures/i,
        auth: true,
        explain:
            "the SSH server refused the login; use a key (keyfile=PATH in the URI, or ssh-agent) for the URI's user, " +
            "since no password can be typed here (no terminal, no askpass)",
    },
    {
        // nc ran, but the daemon's socket is gone or refuses (libvirtd stopped or restarting);
        // before the missing-tool pattern, which the same "No such file" would match.
        pattern: /\bnc: (?:unix connect failed|[^\n:]*sock[^\n:]*): (?:no such file or directory|connection refused)/i,
        transient: true,
        explain: "the libvirt daemon on the SSH host does not answer on its socket (stopped or restarting); check that it runs there",
    },
    {
        pattern:
            /\b(nc|netcat|virt-ssh-helper)\b[^\n]*(not found|no such file)|(not found|no such file)[^\n]*\b(nc|netcat|virt-ssh-helper)\b/i,
        explain:
            "the remote host lacks the tool libvirt runs over SSH: install virt-ssh-helper (libvirt >= 6.8, the libvirt daemon " +
            "package) or a netcat that supports -U (openbsd netcat) on the host, or choose one with proxy=native|netcat",
    },
    {
        pattern: /ssh: connect to host .*: (connection refused|no route to host|connection timed out|network is unreachable)/i,
        transient: true,
        explain: "no SSH server answered there; check the host, the port in the URI and that sshd runs",
    },
    {
        pattern: /ssh: could not resolve hostname/i,
        explain: "the host name in the URI does not resolve",
    },
    {
        pattern: /connection to .* closed by remote host|kex_exchange_identification|connection closed by .* port/i,
        transient: true,
        explain: "the SSH server closed the connection (MaxStartups, a firewall, or sshd refusing the client)",
    },
];

function isSshUri(uri: string): boolean {
    return /^[a-z0-9-]+\+(ssh|libssh|libssh2):\/\//i.test(uri);
}

/**
 * Turns a failed call into the errors the sequence understands: a missing domain, refused
 * credentials, an unreachable daemon or SSH link, with the fix. Anything else stays a VirshError.
 */
export function classifyVirshError(error: unknown, uri: string, domain: string): Error {
    if (!(error instanceof VirshError)) return error instanceof Error ? error : new Error(String(error));
    const message = error.libvirtMessage;
    // A hung or restarting daemon is worth waiting out within the deadline (the sequence retries).
    if (error.timedOut) {
        const hint = isSshUri(uri)
            ? "the SSH link or the remote daemon hung (or ssh waited for a prompt: use a key, known_hosts and no_tty=1)"
            : "is the daemon hung?";
        return new TransientError(`libvirt at ${uri} did not answer "virsh ${error.command}" for domain ${domain} in time; ${hint}`, {
            cause: error,
        });
    }
    if (notFoundPattern.test(message)) return new VmNotFoundError(`${domain} (libvirt ${uri})`, message);
    if (error.exitCode === null && message === "") {
        // Ended by a signal that was not our timeout, without a word: its connection broke under
        // it (SIGPIPE on a dead ssh). Worth another try within the deadline.
        return new TransientError(
            `virsh ${error.command} for domain ${domain} was ended by ${error.signal ?? "a signal"} before libvirt at ${uri} answered (the connection broke?)`,
            { cause: error },
        );
    }
    const ssh = sshProblems.find((p) => p.pattern.test(error.stderr));
    if (ssh) {
        const text = `cannot reach libvirt at ${uri} over SSH: ${ssh.explain} (${message})`;
        if (ssh.auth) return new AuthenticationError(text);
        return ssh.transient ? new TransientError(text, { cause: error }) : new Error(text, { cause: error });
    }
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
