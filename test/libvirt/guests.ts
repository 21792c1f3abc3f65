import { execFile, execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

/**
 * Real test guests on the libvirt peer (test/peers/libvirt): defined per test with a
 * unique name, removed afterwards. Guests boot under software emulation (~5 s, one busy core
 * each), so at most two run at once across all test files: `withGuestSlot` takes one of two
 * lock files in the peer's state directory.
 */

export const libvirtPeerVariables = ["LVPEER_URI", "LVPEER_STATE", "LVPEER_GUEST_DIR", "LVPEER_LOG_DIR", "LVPEER_SCRIPTS"] as const;

export type PeerEnv = Record<string, string>;

/**
 * How the driver and CLI suites reach the peer's libvirtd: its local socket, and `qemu+ssh://`
 * through the peer's loopback sshd (issue 18). Targets may not name a program (`command=`), so
 * the SSH URI's `command=` (the peer's ssh wrapper with its own known_hosts) goes to
 * GRACEFUL_VM_SSH instead. The guests themselves are always managed over the local socket
 * (LVPEER_GUEST_URI). A missing SSH front skips that half (fails on CI).
 */
export interface LibvirtTransport {
    readonly name: string;
    readonly peer: string;
    readonly variables: readonly string[];
    /** The env a suite gets: LVPEER_URI is the target URI; GRACEFUL_VM_SSH, when set, is for process.env. */
    readonly prepare: (env: PeerEnv) => PeerEnv;
}

export const libvirtTransports: readonly LibvirtTransport[] = [
    {
        name: "local socket",
        peer: "libvirt",
        variables: libvirtPeerVariables,
        prepare: (env) => ({ ...env, LVPEER_GUEST_URI: env.LVPEER_URI }),
    },
    {
        name: "qemu+ssh",
        peer: "libvirt-ssh",
        variables: [...libvirtPeerVariables, "LVPEER_SSH_URI"],
        prepare: (env) => {
            const { uri, ssh } = splitSshCommand(env.LVPEER_SSH_URI);
            return { ...env, LVPEER_GUEST_URI: env.LVPEER_URI, LVPEER_URI: uri, ...(ssh ? { GRACEFUL_VM_SSH: ssh } : {}) };
        },
    },
];

/** A URI without its `command=`, which a target may not hold, and that command (for GRACEFUL_VM_SSH). */
export function splitSshCommand(uri: string | undefined): { uri: string; ssh?: string } {
    // undefined in a skipped suite (peer absent), whose body still runs to collect the tests.
    const [base, query = ""] = (uri ?? "").split("?");
    const params = query.split("&").filter((p) => p !== "");
    const command = params.find((p) => p.startsWith("command="));
    const rest = params.filter((p) => p !== command);
    return {
        uri: rest.length > 0 ? `${base}?${rest.join("&")}` : base,
        ...(command ? { ssh: decodeURIComponent(command.slice("command=".length)) } : {}),
    };
}

/**
 * Sets GRACEFUL_VM_SSH for the rest of the test file (the driver and the CLI it spawns read it).
 * At collection, not in beforeAll: test.concurrent cases start before beforeAll hooks run. Jest
 * gives each test file its own copy of process.env, and non-ssh URIs ignore the variable.
 */
export function useSshCommand(env: PeerEnv): void {
    if (env.GRACEFUL_VM_SSH) process.env.GRACEFUL_VM_SSH = env.GRACEFUL_VM_SSH;
}

export type Variant = "graceful" | "hung";

let counter = 0;

export function uniqueName(label: string): string {
    counter++;
    return `gvm-${label}-${process.pid}-${counter}`;
}

export function virsh(env: PeerEnv, args: readonly string[], timeoutMs = 30_000): Promise<{ ok: boolean; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
        execFile(
            "virsh",
            ["-q", "-c", env.LVPEER_GUEST_URI ?? env.LVPEER_URI, ...args],
            { timeout: timeoutMs, env: { ...process.env, LC_ALL: "C" } },
            (error, stdout, stderr) => resolve({ ok: !error, stdout, stderr }),
        );
    });
}

export class Guest {
    constructor(
        readonly env: PeerEnv,
        readonly name: string,
    ) {}

    get hookLogPath(): string {
        return path.join(this.env.LVPEER_LOG_DIR, `${this.name}.hook.log`);
    }

    hookLog(): string {
        try {
            return fs.readFileSync(this.hookLogPath, "utf8");
        } catch {
            return "";
        }
    }

    /** Only lines written after this call count (the files are appended to across boots). */
    truncateLogs(): void {
        for (const suffix of ["hook.log", "console.log"]) {
            const file = path.join(this.env.LVPEER_LOG_DIR, `${this.name}.${suffix}`);
            if (fs.existsSync(file)) fs.truncateSync(file, 0);
        }
    }

    async start(): Promise<void> {
        this.truncateLogs();
        const result = await virsh(this.env, ["start", "--domain", this.name]);
        if (!result.ok) throw new Error(`virsh start ${this.name}: ${result.stderr}`);
    }

    /** Until the guest's acpid and agent run: a shutdown request before that is lost. */
    async waitReady(timeoutMs = 60_000): Promise<void> {
        const until = Date.now() + timeoutMs;
        while (!this.hookLog().includes("lvtest: ready")) {
            if (Date.now() > until)
                throw new Error(`${this.name} did not report "lvtest: ready" within ${timeoutMs} ms:\n${this.hookLog()}`);
            await new Promise((r) => setTimeout(r, 100));
        }
    }

    async state(): Promise<string> {
        const result = await virsh(this.env, ["domstate", "--reason", "--domain", this.name]);
        return result.stdout.trim();
    }

    async remove(): Promise<void> {
        await virsh(this.env, ["destroy", "--domain", this.name]);
        await virsh(this.env, ["undefine", "--domain", this.name]);
        for (const suffix of ["hook.log", "console.log"]) {
            fs.rmSync(path.join(this.env.LVPEER_LOG_DIR, `${this.name}.${suffix}`), { force: true });
        }
    }
}

/** Defines (does not start) a guest: `graceful` or `hung`, with kernel knobs such as `lvtest.prestop_delay=3`. */
export function defineGuest(env: PeerEnv, label: string, variant: Variant, knobs: readonly string[] = []): Guest {
    const name = uniqueName(label);
    const xml = execFileSync(
        "sh",
        [path.join(env.LVPEER_SCRIPTS, "domain-xml.sh"), name, variant, env.LVPEER_GUEST_DIR, env.LVPEER_LOG_DIR, ...knobs],
        {
            encoding: "utf8",
        },
    );
    // A file, not /dev/stdin: Node hands a child its input through a socket, which virsh cannot open by path.
    const xmlFile = path.join(env.LVPEER_STATE, `${name}.xml`);
    fs.writeFileSync(xmlFile, xml);
    try {
        execFileSync("virsh", ["-q", "-c", env.LVPEER_GUEST_URI ?? env.LVPEER_URI, "define", xmlFile], {
            env: { ...process.env, LC_ALL: "C" },
        });
    } finally {
        fs.rmSync(xmlFile, { force: true });
    }
    return new Guest(env, name);
}

const slotCount = 2;

/** Runs `use` while holding one of the two guest slots shared by every test process. */
export async function withGuestSlot<T>(env: PeerEnv, use: () => Promise<T>): Promise<T> {
    const release = await takeGuestSlot(env);
    try {
        return await use();
    } finally {
        release();
    }
}

/** Takes a guest slot for a whole describe block (beforeAll); call the result to give it back. */
export async function takeGuestSlot(env: PeerEnv): Promise<() => void> {
    const dir = path.join(env.LVPEER_STATE, "test-slots");
    fs.mkdirSync(dir, { recursive: true });
    const held = await acquireSlot(dir);
    return () => fs.rmSync(held, { force: true });
}

async function acquireSlot(dir: string): Promise<string> {
    const until = Date.now() + 10 * 60_000;
    for (;;) {
        for (let i = 0; i < slotCount; i++) {
            const file = path.join(dir, `slot-${i}`);
            try {
                fs.writeFileSync(file, String(process.pid), { flag: "wx" });
                return file;
            } catch {
                if (holderIsGone(file)) fs.rmSync(file, { force: true });
            }
        }
        if (Date.now() > until) throw new Error(`no free guest slot in ${dir} after 10 minutes`);
        await new Promise((r) => setTimeout(r, 250));
    }
}

function holderIsGone(file: string): boolean {
    try {
        const pid = Number(fs.readFileSync(file, "utf8"));
        if (!Number.isInteger(pid) || pid <= 0) return true;
        process.kill(pid, 0);
        return false;
    } catch (e) {
        return (e as NodeJS.ErrnoException).code === "ESRCH" || (e as NodeJS.ErrnoException).code === "ENOENT";
    }
}

/** Defines a guest, runs `use` with it inside a slot, and always removes it. */
export async function withGuest<T>(
    env: PeerEnv,
    label: string,
    variant: Variant,
    knobs: readonly string[],
    use: (guest: Guest) => Promise<T>,
): Promise<T> {
    return withGuestSlot(env, async () => {
        const guest = defineGuest(env, label, variant, knobs);
        try {
            return await use(guest);
        } finally {
            await guest.remove();
        }
    });
}
