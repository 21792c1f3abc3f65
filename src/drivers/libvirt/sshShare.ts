import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

/** `GRACEFUL_VM_SSH` names the ssh to run (a wrapper with `-F config`, a non-standard install). */
export function sshBinary(): string {
    return process.env.GRACEFUL_VM_SSH || "ssh";
}

/**
 * The ssh behind a driver's `qemu+ssh://` URI. libvirt's ssh transport starts a new `ssh` (a
 * new login, ~0.3-0.9 s) for every virsh call; with `reuse`, ssh's ControlMaster lets the first
 * one stay up as a master that later calls multiplex over, so a run logs in once. libvirt has
 * no URI parameter for ssh options, but it has `command=` (the ssh program; refused in users'
 * URIs, since a URI must not name a program): the URI virsh gets points it at a wrapper of ours
 * in a private directory, which runs `GRACEFUL_VM_SSH` (or `ssh`) with the ControlMaster options
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

    /**
     * For `DRIVER+ssh://` URIs; undefined for every other transport (libssh has no master). With
     * `reuse: false` the wrapper only runs GRACEFUL_VM_SSH (and is skipped when that is unset).
     */
    static forUri(uri: string, reuse = true): SshConnectionShare | undefined {
        const match = /^([a-z0-9-]+\+ssh:\/\/[^?#]*)(?:\?([^#]*))?(#.*)?$/i.exec(uri);
        if (!match || (!reuse && !process.env.GRACEFUL_VM_SSH)) return undefined;
        const params = (match[2] ?? "").split("&").filter((p) => p !== "");
        // A command= that reached us (the input check refuses it in targets) is what ssh means here.
        const commandParam = params.find((p) => p.startsWith("command="));
        const ssh = commandParam ? decodeURIComponent(commandParam.slice("command=".length)) : sshBinary();
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "graceful-vm-ssh-"));
        const wrapper = path.join(dir, "ssh");
        const master = ["-o", "ControlMaster=auto", "-o", `ControlPath=${path.join(dir, "master")}`, "-o", `ControlPersist=${idleSeconds}`];
        const options = reuse ? master : [];
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
