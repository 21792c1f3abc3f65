import * as fs from "fs";
import { LibvirtDriver } from "../../src/drivers/libvirt/driver";
import { parseLibvirtTarget } from "../../src/drivers/libvirt/spec";
import { systemClock } from "../../src/power/clock";
import { TransitionReport } from "../../src/power/report";
import { runTransition } from "../../src/power/transition";
import { describeWithPeer } from "../helpers/peers";
import { libvirtPeerVariables, withGuest } from "./guests";

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
        const logins = (): number => (fs.readFileSync(env.LVPEER_SSH_LOG, "utf8").match(/Accepted publickey/g) ?? []).length;

        async function stop(domain: string, sshConnectionReuse: boolean): Promise<{ report: TransitionReport; logins: number }> {
            const driver = new LibvirtDriver(
                parseLibvirtTarget({ uri: env.LVPEER_SSH_URI, domain, shutdownMode: "acpi" }, "target.libvirt"),
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
