import { execFile } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { LibvirtDriver } from "../../src/drivers/libvirt/driver";
import { parseLibvirtTarget } from "../../src/drivers/libvirt/spec";
import { systemClock } from "../../src/power/clock";
import { takeGuestSlot } from "../libvirt/guests";
import { FaultProxy } from "./faultProxy";
import { ContractCase } from "./cases";
import { GuestKind, PeerState, Platform, PlatformEnv, Timing } from "./platforms";

/**
 * The libvirt family of the contract suite: the real libvirt peer (test/peers/libvirt: libvirtd,
 * QEMU, tiny busybox guests with a pre-stop hook) under the same table as the contract servers,
 * over the local socket and over `qemu+ssh://` through the peer's loopback sshd.
 *
 * The cases restart and freeze libvirtd, so they get a libvirtd of their own (the peer's
 * daemon.sh with a state directory beside the peer's): the other libvirt suites, which jest runs
 * at the same time, keep theirs. Guests are not booted per case: each kind (quick, slow, hung) is
 * booted once, saved with `virsh save` when its guest says "ready", and every case restores it
 * (0.3-0.5 s instead of a 5 s boot under TCG). Only "first press lost" boots from scratch.
 *
 * Faults are real: libvirtd stopped with SIGTERM and started again, frozen with SIGSTOP, `virsh
 * destroy`/`start`/`undefine` by someone else, the guest's own qemu-ga killed and restarted in a
 * loop, and for qemu+ssh our FaultProxy on the TCP between ssh and sshd.
 */

/** Peer variables the local-socket family needs. */
export const libvirtContractVariables = ["LVPEER_URI", "LVPEER_STATE", "LVPEER_GUEST_DIR", "LVPEER_SCRIPTS"] as const;
/** And the SSH front's pieces, for the qemu+ssh family. */
export const libvirtSshContractVariables = [
    ...libvirtContractVariables,
    "LVPEER_SSH_PORT",
    "LVPEER_SSH_KEY",
    "LVPEER_SSH_KNOWN_HOSTS",
] as const;

type PeerEnv = Record<string, string>;

/**
 * Real guests take seconds: quick ~3.5 s from the request to `shut off` (busybox init's TERM and
 * KILL rounds), slow adds a 2 s pre-stop hook, a boot to "ready" takes ~5 s. A hung guest never
 * stops, so its deadline is short: the invariants are the same.
 */
function timingFor(guest: GuestKind): Timing {
    const base = {
        quickMs: 3_500,
        slowMs: 5_500,
        verifyTimeoutMs: 6_000,
        callTimeoutMs: 3_000,
        gracefulRepeatMs: 2_000,
        // An SSH login through the proxy takes ~0.5-1 s, and an agent request is carried over it
        // for a while: "mid-wait" means once the request is delivered.
        faultsFrom: "wait" as const,
    };
    switch (guest) {
        case "hung":
            return { ...base, gracefulTimeoutMs: 3_000 };
        case "lostFirstPress":
            return { ...base, gracefulTimeoutMs: 20_000 };
        default:
            return { ...base, gracefulTimeoutMs: 12_000 };
    }
}

/** The guests a case can get; `alreadyOff` and `lostFirstPress` use the quick one. */
const images = {
    quick: { variant: "graceful", knobs: [] },
    slow: { variant: "graceful", knobs: ["lvtest.prestop_delay=2"] },
    hung: { variant: "hung", knobs: [] },
} as const;
type ImageKind = keyof typeof images;

function imageOf(guest: GuestKind): ImageKind {
    return guest === "slow" ? "slow" : guest === "hung" ? "hung" : "quick";
}

interface RunResult {
    readonly ok: boolean;
    readonly stdout: string;
    readonly stderr: string;
}

function run(file: string, args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<RunResult> {
    return new Promise((resolve) => {
        execFile(file, args, { env, timeout: timeoutMs, killSignal: "SIGKILL" }, (error, stdout, stderr) =>
            resolve({ ok: !error, stdout: String(stdout), stderr: String(stderr) }),
        );
    });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A live process, not a zombie (a killed libvirtd is reaped by whoever adopted it, maybe never). */
function isAlive(pid: number): boolean {
    try {
        return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, "utf8"));
    } catch {
        return false;
    }
}

/** A libvirtd of the contract suite's own, run by the peer's daemon.sh, that cases may restart and freeze. */
class PrivateDaemon {
    readonly state: string;
    readonly socket: string;
    readonly uri: string;
    private frozen = false;
    private down = false;
    private thawTimer: NodeJS.Timeout | undefined;
    private pending: Promise<void> = Promise.resolve();

    constructor(
        private readonly peer: PeerEnv,
        name: string,
    ) {
        this.state = `${peer.LVPEER_STATE}-contract-${name}`;
        this.socket = path.join(this.state, "run", "libvirt-sock");
        this.uri = `qemu:///system?socket=${this.socket}`;
    }

    private script(command: "start" | "stop"): Promise<RunResult> {
        const env = { ...process.env, LVPEER_STATE: this.state };
        return run("bash", [path.join(this.peer.LVPEER_SCRIPTS, "daemon.sh"), command], env, 60_000);
    }

    async start(): Promise<void> {
        const result = await this.script("start");
        if (!result.ok) throw new Error(`could not start the contract suite's libvirtd (${this.state}): ${result.stderr.trim()}`);
        this.down = false;
    }

    /** Destroys its guests, stops it, deletes its state (saved images included). */
    async remove(): Promise<void> {
        await this.settle();
        await this.script("stop");
    }

    private pid(): number {
        return Number(fs.readFileSync(path.join(this.state, "libvirtd.pid"), "utf8").trim());
    }

    freeze(ms?: number): void {
        process.kill(this.pid(), "SIGSTOP");
        this.frozen = true;
        if (ms !== undefined) this.thawTimer = setTimeout(() => this.thaw(), ms);
    }

    private thaw(): void {
        clearTimeout(this.thawTimer);
        if (!this.frozen) return;
        this.frozen = false;
        process.kill(this.pid(), "SIGCONT");
    }

    /**
     * SIGTERM (libvirtd leaves its guests running), then a start `downMs` after it exited.
     * libvirtd's stop waits for jobs in flight (an agent shutdown of a hung guest holds one up
     * to a minute): after a second it is killed, as an impatient admin or a stop timeout would.
     */
    restart(downMs: number): Promise<void> {
        this.pending = this.pending.then(async () => {
            const pid = this.pid();
            process.kill(pid, "SIGTERM");
            const until = Date.now() + 1_000;
            while (isAlive(pid) && Date.now() < until) await sleep(50);
            if (isAlive(pid)) process.kill(pid, "SIGKILL");
            for (let i = 0; i < 100 && isAlive(pid); i++) await sleep(20);
            this.down = true;
            if (!Number.isFinite(downMs)) return;
            await sleep(downMs);
            await this.start();
        });
        return this.pending;
    }

    /** Back to answering: thawed, any restart finished, started if it was left down. */
    async settle(): Promise<void> {
        this.thaw();
        await this.pending.catch(() => undefined);
        if (this.down) await this.start();
    }
}

/** Only one test process at a time may use the suite's libvirtd (another worktree's run waits). */
async function takeOwnership(file: string): Promise<() => void> {
    const until = Date.now() + 10 * 60_000;
    for (;;) {
        try {
            fs.writeFileSync(file, String(process.pid), { flag: "wx" });
            return () => fs.rmSync(file, { force: true });
        } catch {
            const holder = Number(fs.readFileSync(file, "utf8"));
            if (!Number.isInteger(holder) || holder <= 0 || !isAlive(holder)) fs.rmSync(file, { force: true });
            else if (Date.now() > until) throw new Error(`${file} is held by process ${holder} for more than 10 minutes`);
            else await sleep(1_000);
        }
    }
}

/**
 * The suite's libvirtd and its saved guests, shared by both families of one jest file (they run
 * one after the other). setup() before the first case, teardown() after the last.
 */
export class LibvirtContractHost {
    readonly daemon: PrivateDaemon;
    private readonly releases: (() => void)[] = [];
    /** The guest's qemu-ga port (from its boot log), for the agent-flapping switch. */
    private agentPort = "/dev/vport0p1";

    /** `name`: one host per jest file, each with its own libvirtd (the files run side by side). */
    constructor(
        readonly peer: PeerEnv,
        name: string,
    ) {
        this.daemon = new PrivateDaemon(peer, name);
    }

    get logDir(): string {
        return path.join(this.daemon.state, "guests");
    }

    domainOf(kind: ImageKind): string {
        return `gvm-contract-${kind}`;
    }

    private imageFile(kind: ImageKind): string {
        return path.join(this.daemon.state, "images", `${kind}.save`);
    }

    hookLog(kind: ImageKind): string {
        try {
            return fs.readFileSync(path.join(this.logDir, `${this.domainOf(kind)}.hook.log`), "utf8");
        } catch {
            return "";
        }
    }

    /** virsh on the suite's libvirtd, over its local socket (the way "someone else" reaches it). */
    virsh(args: readonly string[], timeoutMs = 30_000): Promise<RunResult> {
        return run("virsh", ["-q", "-c", this.daemon.uri, ...args], { ...process.env, LC_ALL: "C" }, timeoutMs);
    }

    private async mustVirsh(args: readonly string[]): Promise<string> {
        const result = await this.virsh(args);
        if (!result.ok) throw new Error(`virsh ${args.join(" ")}: ${result.stderr.trim()}`);
        return result.stdout;
    }

    async setup(): Promise<void> {
        this.releases.push(await takeOwnership(`${this.daemon.state}.owner`));
        // One of the peer's two guest slots: our guests run one at a time.
        this.releases.push(await takeGuestSlot(this.peer));
        // A daemon left by a run that died is stopped and its state deleted first.
        await this.daemon.remove();
        await this.daemon.start();
        fs.mkdirSync(path.dirname(this.imageFile("quick")), { recursive: true });
        // Booted side by side: a boot is mostly the guest's own waits, and three in a row cost ~15 s.
        await Promise.all(
            (Object.keys(images) as ImageKind[]).map(async (kind) => {
                await this.define(kind);
                await this.bootAndSave(kind);
            }),
        );
    }

    async teardown(): Promise<void> {
        try {
            await this.daemon.remove();
        } finally {
            for (const release of this.releases.splice(0).reverse()) release();
        }
    }

    /** Each domain's UUID from its first definition: a saved image restores only into the same one. */
    private readonly uuids = new Map<ImageKind, string>();

    private async define(kind: ImageKind): Promise<void> {
        const { variant, knobs } = images[kind];
        const name = this.domainOf(kind);
        const xml = await run(
            "sh",
            [path.join(this.peer.LVPEER_SCRIPTS, "domain-xml.sh"), name, variant, this.peer.LVPEER_GUEST_DIR, this.logDir, ...knobs],
            process.env,
            10_000,
        );
        if (!xml.ok) throw new Error(`domain-xml.sh ${name}: ${xml.stderr}`);
        const file = path.join(this.daemon.state, `${name}.xml`);
        const uuid = this.uuids.get(kind);
        fs.writeFileSync(file, uuid ? xml.stdout.replace("</name>", `</name>\n  <uuid>${uuid}</uuid>`) : xml.stdout);
        await this.mustVirsh(["define", file]);
        if (!uuid) this.uuids.set(kind, (await this.mustVirsh(["domuuid", "--domain", name])).trim());
    }

    private async bootAndSave(kind: ImageKind): Promise<void> {
        this.truncateLogs(kind);
        await this.mustVirsh(["start", "--domain", this.domainOf(kind)]);
        await this.waitForHookLine(kind, "lvtest: ready", 90_000);
        const port = /qemu-ga started on (\S+)/.exec(this.hookLog(kind));
        if (port) this.agentPort = port[1];
        await this.mustVirsh(["save", "--domain", this.domainOf(kind), this.imageFile(kind)]);
    }

    private async waitForHookLine(kind: ImageKind, line: string, timeoutMs: number): Promise<void> {
        const until = Date.now() + timeoutMs;
        while (!this.hookLog(kind).includes(line)) {
            if (Date.now() > until)
                throw new Error(`${this.domainOf(kind)} did not log "${line}" in ${timeoutMs} ms:\n${this.hookLog(kind)}`);
            await sleep(100);
        }
    }

    truncateLogs(kind: ImageKind): void {
        for (const suffix of ["hook.log", "console.log"]) {
            const file = path.join(this.logDir, `${this.domainOf(kind)}.${suffix}`);
            if (fs.existsSync(file)) fs.truncateSync(file, 0);
        }
    }

    /** The guest of `guest`'s kind, as the case needs it: running from its saved image, booting, or off. */
    async prepare(guest: GuestKind): Promise<ImageKind> {
        const kind = imageOf(guest);
        const name = this.domainOf(kind);
        await this.daemon.settle();
        await this.virsh(["destroy", "--domain", name]);
        if (!(await this.virsh(["dominfo", "--domain", name])).ok) await this.define(kind);
        this.truncateLogs(kind);
        if (guest === "lostFirstPress") await this.mustVirsh(["start", "--domain", name]);
        else if (guest !== "alreadyOff") await this.mustVirsh(["restore", this.imageFile(kind)]);
        return kind;
    }

    /**
     * The guest's own qemu-ga goes away and comes back every 400 ms (killed and started again
     * inside the guest, through the agent's guest-exec while it is still there): libvirt sees
     * the agent channel close and open, as on a guest whose agent crashes and restarts.
     */
    async flapAgent(kind: ImageKind): Promise<void> {
        const start = `qemu-ga -d -m virtio-serial -p ${this.agentPort} -f /run/qemu-ga.pid -t /var/lib/qemu-ga -l /var/log/qemu-ga.log`;
        const loop = `(while :; do usleep 400000; kill $(cat /run/qemu-ga.pid); usleep 400000; ${start}; done) </dev/null >/dev/null 2>&1 &`;
        const command = { execute: "guest-exec", arguments: { path: "/bin/sh", arg: ["-c", loop] } };
        await this.mustVirsh(["qemu-agent-command", "--domain", this.domainOf(kind), JSON.stringify(command)]);
    }

    async peerState(kind: ImageKind): Promise<PeerState> {
        const result = await this.virsh(["domstate", "--domain", this.domainOf(kind)]);
        return result.stdout.trim().startsWith("shut off") ? "stopped" : "running";
    }
}

/** The ssh client config and wrapper (GRACEFUL_VM_SSH) for runs through the fault proxy. */
function sshClient(peer: PeerEnv, dir: string): string {
    const alias = "graceful-vm-contract-sshd";
    // The proxy's port changes per case: the host key is looked up under an alias instead.
    const key = fs.readFileSync(peer.LVPEER_SSH_KNOWN_HOSTS, "utf8").trim().split(/\s+/).slice(1, 3).join(" ");
    fs.writeFileSync(path.join(dir, "known_hosts"), `${alias} ${key}\n`);
    const config = [
        `UserKnownHostsFile ${path.join(dir, "known_hosts")}`,
        "GlobalKnownHostsFile /dev/null",
        "StrictHostKeyChecking yes",
        `HostKeyAlias ${alias}`,
        "UpdateHostKeys no",
        "IdentitiesOnly yes",
        "LogLevel ERROR",
        // A dead link is noticed by our timeouts, not ssh's own (minutes by default).
        "ConnectTimeout 5",
    ].join("\n");
    fs.writeFileSync(path.join(dir, "config"), `${config}\n`);
    const wrapper = path.join(dir, "ssh");
    fs.writeFileSync(wrapper, `#!/bin/sh\nexec /usr/bin/ssh -F ${path.join(dir, "config")} "$@"\n`, { mode: 0o755 });
    return wrapper;
}

/**
 * One family: the suite's libvirtd over its local socket, or with `ssh` (the libvirt-ssh peer's
 * variables) over qemu+ssh through the peer's sshd, with our fault proxy in front of it.
 */
export function libvirtPlatform(host: LibvirtContractHost, options: { readonly ssh?: PeerEnv } = {}): Platform {
    const ssh = options.ssh;
    return {
        name: ssh ? "libvirt+ssh" : "libvirt",
        // Over SSH a frozen daemon looks like the proxy's stall, which that family has, and the
        // agent's flapping is the guest's business: left to the local socket, with the slow
        // guest's plain cases, to keep the SSH family within its time.
        switches: ssh ? ["proxy", "restartDaemon"] : ["restartDaemon", "freezeDaemon", "flapAgent"],
        ...(ssh ? { leaves: (c: ContractCase) => c.guest === "slow" && c.needs === undefined && c.faults.every((f) => !f.needs) } : {}),
        async start(guest) {
            if (ssh && !process.env.GRACEFUL_VM_SSH?.startsWith(host.daemon.state)) {
                const dir = path.join(host.daemon.state, "ssh-client");
                fs.mkdirSync(dir, { recursive: true });
                // Targets may not name a program: the ssh to run comes from the environment.
                process.env.GRACEFUL_VM_SSH = sshClient(ssh, dir);
            }
            const kind = await host.prepare(guest);
            const proxy = ssh ? await FaultProxy.start(Number(ssh.LVPEER_SSH_PORT)) : undefined;
            const uri = ssh
                ? `qemu+ssh://root@127.0.0.1:${proxy?.port}/system?socket=${host.daemon.socket}&keyfile=${ssh.LVPEER_SSH_KEY}&no_tty=1`
                : host.daemon.uri;
            const t = timingFor(guest);
            const drivers: LibvirtDriver[] = [];
            let hardOff: Promise<unknown> = Promise.resolve();
            // Someone else's actions still under way when the run ends: awaited by close(), so
            // that a late `virsh start` never lands in the next case.
            const others = new Set<Promise<unknown>>();
            const track = <T>(action: Promise<T>): Promise<T> => {
                others.add(action);
                return action.finally(() => others.delete(action));
            };
            const env: PlatformEnv = {
                ...(proxy ? { proxy } : {}),
                timing: t,
                driver: () => {
                    const target = parseLibvirtTarget(
                        // One virsh call's own bound, under the sequence's: a dead SSH link (no banner) is
                        // cut and tried again twice within the first read's window of two call bounds.
                        { uri, domain: host.domainOf(kind), shutdownMode: "auto", commandTimeout: `${t.callTimeoutMs - 1_000}ms` },
                        "target.libvirt",
                    );
                    const driver = new LibvirtDriver(
                        target,
                        { clock: systemClock, log: (m) => process.env.CONTRACT_DEBUG && process.stderr.write(`${m}\n`) },
                        { pollIntervalMs: 500, agentPingTimeoutMs: 1_000, agentRequestSettleMs: 150 },
                    );
                    drivers.push(driver);
                    return driver;
                },
                async externalHardOff() {
                    hardOff = track(host.virsh(["destroy", "--domain", host.domainOf(kind)]));
                    await hardOff;
                },
                async externalPowerOn() {
                    // libvirt refuses a start while the destroy is still under way.
                    await track(hardOff.then(() => host.virsh(["start", "--domain", host.domainOf(kind)])));
                },
                async deleteVm() {
                    // Undefined first, so the domain is transient and vanishes when destroyed,
                    // never seen as a plain "shut off (destroyed)".
                    await track(
                        host
                            .virsh(["undefine", "--domain", host.domainOf(kind)])
                            .then(() => host.virsh(["destroy", "--domain", host.domainOf(kind)])),
                    );
                },
                restartDaemon: (downMs) => host.daemon.restart(downMs),
                ...(ssh ? {} : { freezeDaemon: (ms?: number) => host.daemon.freeze(ms) }),
                ...(guest === "quick" && !ssh ? { flapAgent: () => void host.flapAgent(kind).catch(() => undefined) } : {}),
                peerState: () => host.peerState(kind),
                async close() {
                    await Promise.allSettled([...others]);
                    for (const d of drivers) await d.close().catch(() => undefined);
                    await proxy?.stop();
                    await host.daemon.settle();
                },
            };
            return env;
        },
    };
}
