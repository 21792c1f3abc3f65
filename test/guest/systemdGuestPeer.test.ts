import { spawnSync, SpawnSyncReturns } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { describeWithPeer } from "../helpers/peers";
import { tempDir } from "./helpers";

/**
 * The systemd-guest peer itself (test/peers/systemd-guest), through the entry points the guest
 * tests use: boot with user-data and a service baked into the image, run commands, read files
 * and the journal, reboot, power off, hard-stop and purge. Each guest has a name of this process.
 */
const events = (logDir: string): string[] => {
    const file = path.join(logDir, "events.log");
    return fs.existsSync(file) ? fs.readFileSync(file, "utf8").trim().split("\n") : [];
};

/** KEY=VALUE lines (values possibly %q-quoted by bash; these tests only read plain ones). */
const variables = (text: string): Record<string, string> =>
    Object.fromEntries(
        text
            .split("\n")
            .filter((line) => /^[A-Z_]+=/.test(line))
            .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
    );

const userData = `#cloud-config
write_files:
  - path: /usr/local/bin/log-event
    permissions: '0755'
    content: |
      #!/bin/sh
      echo "$(date +%s.%N) $*" >> /var/log/peer/events.log
runcmd:
  - [/usr/local/bin/log-event, runcmd ran]
`;

// Baked into the image before the first boot: enabled for multi-user.target, so it starts
// whatever cloud-init does, and logs its start and its stop to the peer's log dir.
const bakedUnit = `[Unit]
Description=a service baked into the image
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'echo "$(date +%%s.%%N) baked started" >> /var/log/peer/events.log'
ExecStop=/bin/sh -c 'echo "$(date +%%s.%%N) baked stopping" >> /var/log/peer/events.log'
[Install]
WantedBy=multi-user.target
`;

describeWithPeer("the systemd-guest peer", "systemd-guest", ["SGP_PEER_DIR"], (env) => {
    jest.setTimeout(240_000);
    const script = (name: string, ...args: string[]): SpawnSyncReturns<string> =>
        spawnSync("bash", [path.join(env.SGP_PEER_DIR, name), ...args], { encoding: "utf8" });

    describe("a guest booted, rebooted and powered off", () => {
        const name = `gvm-peer-${process.pid}`;
        const work = tempDir("peer");
        const logDir = path.join(work, "logs");
        let boot: SpawnSyncReturns<string>;
        beforeAll(() => {
            fs.writeFileSync(path.join(work, "user-data"), userData);
            fs.writeFileSync(path.join(work, "baked.service"), bakedUnit);
            boot = script(
                "run.sh",
                ...["--name", name, "--user-data", path.join(work, "user-data"), "--log-dir", logDir, "--timeout", "150"],
                ...["--file", `${path.join(work, "baked.service")}:/etc/systemd/system/baked.service`, "--enable", "baked.service"],
            );
        });
        afterAll(() => {
            script("stop.sh", name, "--purge");
        });

        test("run.sh: cloud-init done, systemd running, the user-data and the baked service ran", () => {
            expect({ status: boot.status, stderr: boot.status === 0 ? "" : boot.stderr }).toEqual({ status: 0, stderr: "" });
            const vars = variables(boot.stdout);
            expect([vars.SGP_NAME, vars.SGP_CLOUD_INIT_STATUS, vars.SGP_SYSTEM_STATE]).toEqual([name, "done", "running"]);
            expect(events(logDir).map((line) => line.replace(/^\S+ /, ""))).toEqual(["baked started", "runcmd ran"]);
        });

        test("exec.sh runs a command in the guest and returns its status", () => {
            const active = script("exec.sh", name, "systemctl", "is-active", "baked.service");
            expect([active.status, active.stdout.trim()]).toEqual([0, "active"]);
            const hostname = script("exec.sh", name, "hostname");
            expect(hostname.stdout.trim()).toBe(name);
            expect(script("exec.sh", name, "sh", "-c", "exit 7").status).toBe(7);
        });

        test("read-file.sh reads the guest's tmpfs /run while it runs", () => {
            const result = script("read-file.sh", name, "/run/cloud-init/result.json");
            expect(result.status).toBe(0);
            expect((JSON.parse(result.stdout) as { v1: { errors: unknown[] } }).v1.errors).toEqual([]);
        });

        test("journal.sh prints the journal with unix timestamps", () => {
            const result = script("journal.sh", name, "-u", "baked.service", "-o", "short-unix");
            const line = result.stdout.split("\n").find((l) => /Finished baked\.service|Started baked\.service/.test(l));
            expect(line).toMatch(new RegExp(`^\\d{10}\\.\\d{6} ${name} systemd\\[1\\]: `));
            expect(Math.abs(Number(line?.split(" ")[0]) - Date.now() / 1000)).toBeLessThan(600);
        });

        test("shutdown.sh --reboot: the guest stops its services, boots again on the same disk", () => {
            const result = script("shutdown.sh", name, "--reboot", "--timeout", "120");
            const vars = variables(result.stdout);
            expect([result.status, vars.SGP_SHUTDOWN_RESULT]).toEqual([0, "reboot"]);
            expect(Number(vars.SGP_REBOOT_SECONDS)).toBeGreaterThanOrEqual(Number(vars.SGP_SHUTDOWN_SECONDS));
            // runcmd is per instance: it does not run again; the enabled service does.
            expect(events(logDir).map((line) => line.replace(/^\S+ /, ""))).toEqual([
                "baked started",
                "runcmd ran",
                "baked stopping",
                "baked started",
            ]);
            const boots = script("journal.sh", name, "--list-boots");
            expect(boots.stdout.split("\n").filter((line) => /^\s*-?\d+ [0-9a-f]{32} /.test(line))).toHaveLength(2);
        });

        test("shutdown.sh: a graceful poweroff, timed, the guest's logs collected", () => {
            const result = script("shutdown.sh", name, "--timeout", "60");
            const vars = variables(result.stdout);
            expect([result.status, vars.SGP_SHUTDOWN_RESULT, vars.SGP_NSPAWN_RC]).toEqual([0, "poweroff", "0"]);
            expect(Number(vars.SGP_SHUTDOWN_SECONDS)).toBeLessThan(60);
            expect(events(logDir).at(-1)).toMatch(/ baked stopping$/);
            const journal = fs.readFileSync(path.join(logDir, "guest", "journal.txt"), "utf8");
            expect(journal).toMatch(/systemd\[1\]: Stopped baked\.service/);
            // Off, the disk can still be read.
            expect(script("read-file.sh", name, "/etc/hostname").stdout.trim()).toBe(name);
            expect(script("exec.sh", name, "true").status).not.toBe(0);
        });
    });

    describe("a guest whose user-data fails, stopped hard", () => {
        const name = `gvm-peer-${process.pid}-hard`;
        const work = tempDir("peer-hard");
        const logDir = path.join(work, "logs");
        let boot: SpawnSyncReturns<string>;
        beforeAll(() => {
            fs.writeFileSync(path.join(work, "user-data"), userData.replace("runcmd ran]", "runcmd ran]\n  - [sh, -c, 'exit 3']"));
            fs.writeFileSync(path.join(work, "baked.service"), bakedUnit);
            boot = script(
                "run.sh",
                ...["--name", name, "--user-data", path.join(work, "user-data"), "--log-dir", logDir, "--timeout", "150"],
                ...["--file", `${path.join(work, "baked.service")}:/etc/systemd/system/baked.service`, "--enable", "baked.service"],
            );
        });
        afterAll(() => {
            script("stop.sh", name, "--purge");
        });

        test("run.sh exits 3 when cloud-init reports an error, and leaves the guest running", () => {
            expect(boot.status).toBe(3);
            expect(variables(boot.stdout).SGP_CLOUD_INIT_STATUS).toBe("error");
            expect(boot.stderr).toMatch(/cloud-init: status: error/);
            expect(script("exec.sh", name, "systemctl", "is-active", "baked.service").stdout.trim()).toBe("active");
        });

        test("stop.sh --purge: no ExecStop runs, every process and the state are gone; again is a no-op", () => {
            const vars = variables(boot.stdout);
            const state = vars.SGP_STATE;
            const pids = [Number(vars.SGP_NSPAWN_PID), Number(vars.SGP_LEADER_PID)];
            expect(fs.existsSync(state)).toBe(true);
            expect(script("stop.sh", name, "--purge").status).toBe(0);
            expect(pids.filter((pid) => fs.existsSync(`/proc/${pid}`))).toEqual([]);
            expect(fs.existsSync(state)).toBe(false);
            expect(events(logDir).some((line) => / baked stopping$/.test(line))).toBe(false);
            expect(script("stop.sh", name, "--purge").status).toBe(0);
        });
    });
});
