import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

/**
 * One SSH connection for a driver's whole run on a `qemu+ssh://` URI. libvirt's ssh transport
 * starts a new `ssh` (a new login, ~0.3-0.9 s) for every virsh call; ssh's ControlMaster lets
 * the first one stay up as a master that later calls multiplex over. libvirt has no URI
 * parameter for ssh options, but it has `command=` (the ssh binary to run): the URI gets a
 * wrapper of ours that runs the URI's own `command` (or `ssh`) with the ControlMaster options
 * first. Everything else (keyfile, no_tty, no_verify, the user's ~/.ssh/config) still applies.
 * close() ends the master; if we die first, ControlPersist ends it after a short idle time.
 */
export class SshConnectionShare {
    private closed = false;

    private constructor(
        /** The URI virsh gets: the user's, with `command=` pointing at the wrapper. */
        readonly uri: string,
        private readonly dir: string,
        private readonly ssh: string,
    ) {}

    /** A share for `DRIVER+ssh://` URIs; undefined for every other transport (libssh has no master). */
    static forUri(uri: string): SshConnectionShare | undefined {
        const match = /^([a-z0-9-]+\+ssh:\/\/[^?#]*)(?:\?([^#]*))?(#.*)?$/i.exec(uri);
        if (!match) return undefined;
        const params = (match[2] ?? "").split("&").filter((p) => p !== "");
        const commandParam = params.find((p) => p.startsWith("command="));
        const ssh = commandParam ? decodeURIComponent(commandParam.slice("command=".length)) : "ssh";
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "graceful-vm-ssh-"));
        const wrapper = path.join(dir, "ssh");
        const options = [
            "-o",
            "ControlMaster=auto",
            "-o",
            `ControlPath=${path.join(dir, "master")}`,
            "-o",
            `ControlPersist=${idleSeconds}`,
        ];
        fs.writeFileSync(wrapper, `#!/bin/sh\nexec ${[ssh, ...options].map(shellQuote).join(" ")} "$@"\n`, { mode: 0o700 });
        const rest = params.filter((p) => p !== commandParam);
        const query = [...rest, `command=${encodeURIComponent(wrapper)}`].join("&");
        return new SshConnectionShare(`${match[1]}?${query}${match[3] ?? ""}`, dir, ssh);
    }

    /** Ends the master connection (if one came up) and removes the wrapper. Safe to call twice. */
    async close(): Promise<void> {
        if (this.closed) return;
        this.closed = true;
        const socket = path.join(this.dir, "master");
        if (fs.existsSync(socket)) {
            await new Promise<void>((resolve) => {
                // `-O exit` talks to the master over its local socket; the host name is not used.
                const child = spawn(this.ssh, ["-o", `ControlPath=${socket}`, "-O", "exit", "graceful-vm-master"], { stdio: "ignore" });
                const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
                child.once("error", () => resolve());
                child.once("close", () => {
                    clearTimeout(timer);
                    resolve();
                });
            });
        }
        fs.rmSync(this.dir, { recursive: true, force: true });
    }
}

/** How long an orphaned master outlives its last call (our process died without close()). */
const idleSeconds = 15;

function shellQuote(value: string): string {
    return `'${value.replace(/'/g, `'\\''`)}'`;
}
