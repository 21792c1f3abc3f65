import * as fs from "fs";
import { LibvirtDriver } from "../../src/drivers/libvirt/driver";
import { parseLibvirtTarget } from "../../src/drivers/libvirt/spec";
import { systemClock } from "../../src/power/clock";
import { TransitionReport } from "../../src/power/report";
import { runTransition } from "../../src/power/transition";
import { AuthenticationError } from "../../src/power/errors";
import { describeWithPeer } from "../helpers/peers";
import { libvirtPeerVariables, splitSshCommand, useSshCommand, withGuest } from "./guests";

/**
 * A graceful stop over `qemu+ssh://` through the peer's loopback sshd, counting SSH logins in
 * sshd's log (LVPEER_SSH_LOG): one for the whole run with the driver's ControlMaster, one per
 * virsh call without it (issue 18's "every virsh call is a new SSH login").
 */
describeWithPeer(
    "libvirt over SSH: one login per run",
    "libvirt-ssh",
    [...libvirtPeerVariables, "LVPEER_SSH_URI", "LVPEER_SSH_LOG"],
    (env) => {
        jest.setTimeout(360_000);
        // A target may not name a program: the peer's ssh wrapper (its known_hosts) goes to GRACEFUL_VM_SSH.
        const { uri, ssh } = splitSshCommand(env.LVPEER_SSH_URI);
        useSshCommand({ GRACEFUL_VM_SSH: ssh ?? "" });
        const logins = (): number => (fs.readFileSync(env.LVPEER_SSH_LOG, "utf8").match(/Accepted publickey/g) ?? []).length;

        async function stop(domain: string, sshConnectionReuse: boolean): Promise<{ report: TransitionReport; logins: number }> {
            const driver = new LibvirtDriver(
                parseLibvirtTarget({ uri, domain, shutdownMode: "acpi" }, "target.libvirt"),
                { clock: systemClock, log: () => undefined },
                { sshConnectionReuse },
            );
            const before = logins();
            try {
                const report = await runTransition(driver, systemClock, { desired: "OffGraceful", gracefulTimeoutMs: 60_000 });
                return { report, logins: logins() - before };
            } finally {
                await driver.close();
            }
        }

        test("graceful stop: one SSH login with the ControlMaster, one per virsh call without", async () => {
            await withGuest(env, "ssh-reuse", "graceful", [], async (guest) => {
                await guest.start();
                await guest.waitReady();
                const shared = await stop(guest.name, true);
                expect(shared.report).toMatchObject({ to: "stopped", method: "graceful", gracefulMethod: "acpi" });
                expect(shared.logins).toBe(1);

                await guest.start();
                await guest.waitReady();
                const perCall = await stop(guest.name, false);
                expect(perCall.report).toMatchObject({ to: "stopped", method: "graceful" });
                // domstate, shutdown, the event watcher, the waits' and the verify's reads.
                expect(perCall.logins).toBeGreaterThanOrEqual(4);
            });
        });
    },
);

/**
 * Each broken `qemu+ssh://` URI of the peer's SSH front, through the driver: the error names
 * the cause and its fix (before issue 18 they all read "is libvirtd running?" or "is the daemon
 * hung?"), and a hung link is cut at commandTimeout. (A remote without nc needs `netcat=`, which
 * targets may not set: ssh.fake.test.ts covers that message.)
 */
const brokenUris = [
    ["LVPEER_SSH_URI_UNKNOWN_HOST", /SSH key is not in known_hosts/],
    ["LVPEER_SSH_URI_CHANGED_HOST", /SSH key has CHANGED/],
    ["LVPEER_SSH_URI_AUTH_REFUSED", /SSH server refused the login; use a key/],
    ["LVPEER_SSH_URI_REFUSED", /no SSH server answered there/],
    ["LVPEER_SSH_URI_HANG", /did not answer "virsh domstate".*SSH link or the remote daemon hung/],
] as const;

describeWithPeer(
    "libvirt over SSH: errors name the cause",
    "libvirt-ssh",
    brokenUris.map(([name]) => name),
    (env) => {
        test.each(brokenUris)("%s", async (name, message) => {
            const { uri, ssh } = splitSshCommand(env[name]);
            const saved = process.env.GRACEFUL_VM_SSH;
            if (ssh) process.env.GRACEFUL_VM_SSH = ssh;
            const driver = new LibvirtDriver(parseLibvirtTarget({ uri, domain: "any", commandTimeout: "3s" }, "target.libvirt"), {
                clock: systemClock,
                log: () => undefined,
            });
            const started = Date.now();
            try {
                const attempt = driver.readState();
                await expect(attempt).rejects.toThrow(message);
                if (name === "LVPEER_SSH_URI_AUTH_REFUSED") await expect(attempt).rejects.toBeInstanceOf(AuthenticationError);
                expect(Date.now() - started).toBeLessThan(15_000);
            } finally {
                await driver.close();
                if (saved === undefined) delete process.env.GRACEFUL_VM_SSH;
                else process.env.GRACEFUL_VM_SSH = saved;
            }
        });
    },
);
