import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { LibvirtDriver } from "../../src/drivers/libvirt/driver";
import { parseLibvirtTarget } from "../../src/drivers/libvirt/spec";
import { SshConnectionShare } from "../../src/drivers/libvirt/sshShare";
import { Virsh, VirshError, classifyVirshError } from "../../src/drivers/libvirt/virsh";
import { systemClock } from "../../src/power/clock";
import { AuthenticationError, TransientError } from "../../src/power/errors";

/**
 * The SSH leg of `qemu+ssh://` misbehaving (issue 18), with a fake virsh (fixtures/
 * fake-ssh-virsh.sh) that hangs with a child like virsh's ssh, hangs after one answer, or prints
 * what ssh prints when it fails. Each case failed on the driver before: the ssh child outlived
 * the timeout, a state read took the full per-call timeout past the deadline, and every SSH
 * failure read "is libvirtd running?".
 */

const uri = "qemu+ssh://admin@kvm-1.example:2222/system";
const fake = path.join(__dirname, "fixtures", "fake-ssh-virsh.sh");
const names = [
    "GRACEFUL_VM_VIRSH",
    "FAKE_SSH_MODE",
    "FAKE_SSH_PIDFILE",
    "FAKE_SSH_COUNTER",
    "FAKE_SSH_STDOUT",
    "FAKE_SSH_STDERR",
    "FAKE_SSH_EXIT",
];

/** Running, not merely a zombie waiting for its new parent (init here may reap slowly) to reap it. */
function alive(pid: number): boolean {
    try {
        process.kill(pid, 0);
    } catch {
        return false;
    }
    try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
        return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
    } catch {
        return false;
    }
}

describe("libvirt over SSH: timeouts, process groups and ssh's errors (fake virsh)", () => {
    const saved = Object.fromEntries(names.map((n) => [n, process.env[n]]));
    let dir: string;

    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "graceful-vm-fake-ssh-"));
        process.env.GRACEFUL_VM_VIRSH = fake;
    });
    afterEach(() => {
        for (const n of names) {
            if (saved[n] === undefined) delete process.env[n];
            else process.env[n] = saved[n];
        }
        fs.rmSync(dir, { recursive: true, force: true });
    });

    function driver(logs: string[] = [], commandTimeout = "30s"): LibvirtDriver {
        return new LibvirtDriver(
            parseLibvirtTarget({ uri, domain: "web", shutdownMode: "acpi", commandTimeout }, "target.libvirt"),
            { clock: systemClock, log: (m) => logs.push(m) },
            { useEvents: false, pollIntervalMs: 200 },
        );
    }

    test("a call that times out ends virsh's whole process group: no orphaned ssh", async () => {
        process.env.FAKE_SSH_MODE = "orphan";
        const pidFile = path.join(dir, "ssh.pid");
        process.env.FAKE_SSH_PIDFILE = pidFile;
        let sshPid = 0;
        try {
            const call = new Virsh(uri, 30_000).run(["domstate", "--domain", "web"], 800);
            await expect(call).rejects.toMatchObject({ timedOut: true });
            sshPid = Number(fs.readFileSync(pidFile, "utf8").trim());
            expect(sshPid).toBeGreaterThan(0);
            // The kill is synchronous with the timeout; give the kernel a moment to reap.
            for (let i = 0; i < 20 && alive(sshPid); i++) await systemClock.sleep(50);
            expect(alive(sshPid)).toBe(false);
        } finally {
            if (sshPid > 0 && alive(sshPid)) process.kill(sshPid, "SIGKILL");
        }
    });

    test("state reads during a wait are bounded by the time left, not the 30 s per-call timeout", async () => {
        process.env.FAKE_SSH_MODE = "hang-later";
        process.env.FAKE_SSH_COUNTER = path.join(dir, "counter");
        const logs: string[] = [];
        const d = driver(logs);
        try {
            const started = Date.now();
            const state = await d.waitForState(["stopped"], systemClock.now() + 1_500);
            const elapsed = Date.now() - started;
            // The first read answered; the next one hung and was cut at the deadline.
            expect(state).toMatchObject({ state: "running" });
            expect(elapsed).toBeGreaterThanOrEqual(1_000);
            expect(elapsed).toBeLessThan(5_000);
            expect(logs.join("\n")).toMatch(/did not answer "virsh domstate".*SSH link.*bounded by the time left/);
        } finally {
            await d.close();
        }
    });

    const sshFailures: ReadonlyArray<readonly [string, string, RegExp]> = [
        [
            "an unknown host key",
            "error: failed to connect to the hypervisor\nerror: Cannot recv data: No ED25519 host key is known for [kvm-1.example]:2222 and you have requested strict checking.\r\nHost key verification failed.: Connection reset by peer\n",
            /SSH key is not in known_hosts.*ssh-keyscan.*UserKnownHostsFile/,
        ],
        [
            "a changed host key",
            "error: failed to connect to the hypervisor\nerror: Cannot recv data: @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\r\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\r\n@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\r\nIT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\r\nHost key verification failed.: Connection reset by peer\n",
            /SSH key has CHANGED.*ssh-keygen -R/,
        ],
        [
            "a remote without nc",
            "error: failed to connect to the hypervisor\nerror: Cannot recv data: sh: 1: nc: not found: Connection reset by peer\n",
            /lacks the tool libvirt runs over SSH: install virt-ssh-helper.*netcat/,
        ],
        [
            "a remote without virt-ssh-helper",
            "error: failed to connect to the hypervisor\nerror: Cannot recv data: bash: line 1: virt-ssh-helper: command not found: Connection reset by peer\n",
            /lacks the tool libvirt runs over SSH/,
        ],
        [
            "a refused connection",
            "error: failed to connect to the hypervisor\nerror: Cannot recv data: ssh: connect to host kvm-1.example port 2222: Connection refused: Connection reset by peer\n",
            /no SSH server answered there; check the host, the port/,
        ],
        [
            "an unresolvable host",
            "error: failed to connect to the hypervisor\nerror: Cannot recv data: ssh: Could not resolve hostname kvm-1.example: Name or service not known: Connection reset by peer\n",
            /host name in the URI does not resolve/,
        ],
    ];

    test.each(sshFailures)("%s is named with its fix, not as 'is libvirtd running?'", async (_what, stderr, fix) => {
        process.env.FAKE_SSH_MODE = "output";
        process.env.FAKE_SSH_STDERR = stderr;
        const d = driver();
        try {
            const attempt = d.readState();
            await expect(attempt).rejects.toThrow(fix);
            await expect(attempt).rejects.toThrow(/over SSH/);
            await expect(attempt).rejects.not.toThrow(/libvirtd \(or virtqemud\) is running/);
        } finally {
            await d.close();
        }
    });

    test("a refused SSH login is an AuthenticationError that names keys, not passwords", () => {
        const stderr =
            "error: failed to connect to the hypervisor\nerror: Cannot recv data: admin@kvm-1.example: Permission denied (publickey,password).: Connection reset by peer\n";
        const error = classifyVirshError(new VirshError("domstate", stderr, false, 1), uri, "web");
        expect(error).toBeInstanceOf(AuthenticationError);
        expect(error.message).toMatch(/SSH server refused the login; use a key \(keyfile=PATH in the URI, or ssh-agent\)/);
    });

    // Found by the contract suite (test/contract, libvirt+ssh): outages were final, and a
    // restarting remote daemon read as a missing nc.
    const outages: ReadonlyArray<readonly [string, string, RegExp]> = [
        [
            "the remote daemon's socket gone (libvirtd restarting)",
            "error: failed to connect to the hypervisor\nerror: End of file while reading data: nc: /var/run/libvirt/libvirt-sock: No such file or directory: Input/output error\n",
            /daemon on the SSH host does not answer on its socket/,
        ],
        [
            "the remote daemon refusing (stopped)",
            "error: failed to connect to the hypervisor\nerror: End of file while reading data: nc: unix connect failed: Connection refused: Input/output error\n",
            /daemon on the SSH host does not answer on its socket/,
        ],
        [
            "a link reset before the SSH banner",
            "error: failed to connect to the hypervisor\nerror: Cannot recv data: kex_exchange_identification: read: Connection reset by peer: Connection reset by peer\n",
            /SSH server closed the connection/,
        ],
        [
            "sshd refusing (restarting)",
            "error: failed to connect to the hypervisor\nerror: Cannot recv data: ssh: connect to host kvm-1.example port 2222: Connection refused: Connection reset by peer\n",
            /no SSH server answered there/,
        ],
    ];

    test.each(outages)("%s is transient (waited out within the deadline), with its cause", (_what, stderr, cause) => {
        const error = classifyVirshError(new VirshError("domstate", stderr, false, 1), uri, "web");
        expect(error).toBeInstanceOf(TransientError);
        expect(error.message).toMatch(cause);
        expect(error.message).not.toMatch(/lacks the tool/);
    });

    test("virsh ended by a signal that was not ours (a broken pipe to ssh) is transient, and says so", () => {
        // Seen by the contract suite (libvirt+ssh, an outage mid-wait): "virsh domstate failed: exit code null", thrown raw.
        const error = classifyVirshError(new VirshError("domstate", "", false, null, "SIGPIPE"), uri, "web");
        expect(error).toBeInstanceOf(TransientError);
        expect(error.message).toMatch(/ended by SIGPIPE before libvirt at .* answered/);
    });

    test("a hang over SSH names the link and prompts, not only the daemon", () => {
        const error = classifyVirshError(new VirshError("domstate", "", true, null), uri, "web");
        expect(error.message).toMatch(/SSH link or the remote daemon hung.*no_tty=1/);
        const local = classifyVirshError(new VirshError("domstate", "", true, null), "qemu:///system", "web");
        expect(local.message).toMatch(/is the daemon hung\?/);
    });

    test("no_verify=1 going on past a CHANGED host key is logged as a warning", async () => {
        process.env.FAKE_SSH_MODE = "output";
        process.env.FAKE_SSH_EXIT = "0";
        process.env.FAKE_SSH_STDOUT = "running (booted)\n\n";
        process.env.FAKE_SSH_STDERR =
            "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\r\nPassword authentication is disabled to avoid man-in-the-middle attacks.\r\n";
        const logs: string[] = [];
        const d = driver(logs);
        try {
            expect(await d.readState()).toMatchObject({ state: "running" });
            expect(logs.join("\n")).toMatch(/SSH host key has CHANGED and ssh went on only because the URI has no_verify=1/);
        } finally {
            await d.close();
        }
    });
});

describe("SshConnectionShare: one ssh ControlMaster per driver run on qemu+ssh://", () => {
    test("the URI keeps its parameters and gets a command= wrapper that runs the URI's own command with ControlMaster", async () => {
        const share = SshConnectionShare.forUri("qemu+ssh://root@kvm-1:2222/system?socket=/run/x&command=%2Fopt%2Fmy%20ssh&no_tty=1");
        expect(share).toBeDefined();
        try {
            const uri = new URL(share!.uri);
            expect(share!.uri).toMatch(/^qemu\+ssh:\/\/root@kvm-1:2222\/system\?socket=\/run\/x&no_tty=1&command=/);
            const wrapper = uri.searchParams.get("command") ?? "";
            const script = fs.readFileSync(wrapper, "utf8");
            expect(script).toContain("exec '/opt/my ssh' '-o' 'ControlMaster=auto' '-o' 'ControlPath=");
            expect(script).toContain("'ControlPersist=15' \"$@\"");
            expect(fs.statSync(path.dirname(wrapper)).mode & 0o077).toBe(0);
            await share!.close();
            expect(fs.existsSync(wrapper)).toBe(false);
        } finally {
            await share!.close();
        }
    });

    test.each(["qemu:///system", "qemu+tcp://kvm-1/system", "qemu+libssh://kvm-1/system", "qemu:///system?socket=/run/x"])(
        "%s is left alone",
        (uri) => {
            expect(SshConnectionShare.forUri(uri)).toBeUndefined();
        },
    );
});
