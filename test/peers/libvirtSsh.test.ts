import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { describeWithPeer } from "../helpers/peers";

/**
 * The SSH front of the libvirt peer (scripts/peers/libvirt-ssh.sh): each URI it exports fails or
 * works the way its name says, with the message a driver would have to classify. These pin the
 * peer, not the driver: if one breaks, the driver's SSH error tests would test nothing.
 */

const sshVariables = [
    "LVPEER_SSH_URI",
    "LVPEER_SSH_URI_UNKNOWN_HOST",
    "LVPEER_SSH_URI_CHANGED_HOST",
    "LVPEER_SSH_URI_AUTH_REFUSED",
    "LVPEER_SSH_URI_NO_NETCAT",
    "LVPEER_SSH_URI_REFUSED",
    "LVPEER_SSH_URI_HANG",
    "LVPEER_SSH_URI_LIBSSH",
    "LVPEER_SSH_KNOWN_HOSTS",
    "LVPEER_SSH_PORT",
] as const;

interface Run {
    readonly code: number | null;
    readonly stderr: string;
    readonly timedOut: boolean;
}

/** `virsh -c uri list --all`; after `limitMs` the whole process group (virsh and its ssh) is killed. */
function virshList(uri: string, limitMs = 30_000): Promise<Run> {
    return new Promise((resolve) => {
        const child = spawn("virsh", ["-q", "-c", uri, "list", "--all"], {
            detached: true,
            stdio: ["ignore", "ignore", "pipe"],
            env: { ...process.env, LC_ALL: "C" },
        });
        let stderr = "";
        let timedOut = false;
        child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
        const timer = setTimeout(() => {
            timedOut = true;
            if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
        }, limitMs);
        child.on("close", (code) => {
            clearTimeout(timer);
            resolve({ code, stderr, timedOut });
        });
    });
}

describeWithPeer("libvirt peer over SSH (loopback sshd)", "libvirt-ssh", sshVariables, (env) => {
    test("the working URI reaches the private libvirtd", async () => {
        const run = await virshList(env.LVPEER_SSH_URI);
        expect(run).toMatchObject({ code: 0, timedOut: false });
    });

    test("libssh transport with our known_hosts file works too", async () => {
        const run = await virshList(env.LVPEER_SSH_URI_LIBSSH);
        expect(run).toMatchObject({ code: 0, timedOut: false });
    });

    test.each([
        ["UNKNOWN_HOST", /No ED25519 host key is known for \[127\.0\.0\.1\]:\d+[\s\S]*Host key verification failed/],
        ["CHANGED_HOST", /REMOTE HOST IDENTIFICATION HAS CHANGED/],
        ["AUTH_REFUSED", /Permission denied \(publickey\)/],
        ["NO_NETCAT", /\/nonexistent\/nc: not found/],
        ["REFUSED", /connect to host 127\.0\.0\.1 port 1: Connection refused/],
    ])("LVPEER_SSH_URI_%s fails at once with the cause in stderr", async (name, message) => {
        const run = await virshList(env[`LVPEER_SSH_URI_${name}`]);
        expect(run.timedOut).toBe(false);
        expect(run.code).not.toBe(0);
        expect(run.stderr).toMatch(message);
    });

    test("LVPEER_SSH_URI_HANG never answers: still waiting after 3 s", async () => {
        const run = await virshList(env.LVPEER_SSH_URI_HANG, 3_000);
        expect(run.timedOut).toBe(true);
    });

    test("the known_hosts file is ours, for this port; root's own is not written", async () => {
        expect(fs.readFileSync(env.LVPEER_SSH_KNOWN_HOSTS, "utf8")).toMatch(
            new RegExp(`^\\[127\\.0\\.0\\.1\\]:${env.LVPEER_SSH_PORT} ssh-ed25519 `),
        );
        const rootKnownHosts = path.join(os.homedir(), ".ssh", "known_hosts");
        const before = fs.existsSync(rootKnownHosts) ? fs.readFileSync(rootKnownHosts, "utf8") : "";
        await virshList(env.LVPEER_SSH_URI);
        const after = fs.existsSync(rootKnownHosts) ? fs.readFileSync(rootKnownHosts, "utf8") : "";
        expect(after).toBe(before);
        expect(after).not.toContain(`:${env.LVPEER_SSH_PORT}]`);
    });
});
