import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { stringify } from "yaml";
import { exitCodes } from "../../src/cli/exitCodes";
import { FakeVm, FileHypervisor } from "../fixtures/fileHypervisor";
import { cli } from "./helpers";

/**
 * `graceful-vm ... --fleet FILE` against the fake file hypervisor (the generic `custom` platform,
 * the path every platform takes): tier order both ways, rolling restart, dry-run, exit codes,
 * JSON and JSON-lines progress. The hypervisor's journal records every change in the order made.
 */

const token = "tok-fleet-Zr4-never-printed";
const env = { GRACEFUL_VM_SECRETS: JSON.stringify({ token }) };

interface FleetJson {
    direction: string;
    vms: { name: string; tier: number; status: string; reports: { method: string; desired: string }[]; reason?: string }[];
    totals: { done: number; failed: number; skipped: number };
    haltedBeforeTier?: number;
    exitCode: number;
}

describe("graceful-vm --fleet", () => {
    let dir: string;
    let hypervisor: FileHypervisor;
    let files = 0;

    function setUp(vms: Record<string, FakeVm>): void {
        hypervisor = new FileHypervisor(vms);
    }
    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "graceful-vm-fleet-"));
        setUp({
            "db-1": { state: "running", guest: "graceful", shutdownDelayMs: 100 },
            "web-1": { state: "running", guest: "graceful", shutdownDelayMs: 150 },
            "web-2": { state: "running", guest: "graceful", shutdownDelayMs: 100 },
        });
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    const vm = (name: string, extra: Record<string, unknown> = {}) => ({
        name,
        target: { custom: { name, options: { vm: name } } },
        ...extra,
    });
    function fleetFile(
        tiers: unknown[] = [
            { name: "database", vms: [vm("db-1")] },
            { name: "web", vms: [vm("web-1"), vm("web-2")] },
        ],
        extra = {},
    ) {
        const file = path.join(dir, `fleet-${++files}.yaml`);
        fs.writeFileSync(
            file,
            stringify({
                defaults: {
                    gracefulShutdownTimeout: "3s",
                    target: {
                        custom: { module: hypervisor.driverModule, options: { stateFile: hypervisor.stateFile, requiredToken: token } },
                    },
                },
                tiers,
                ...extra,
            }),
        );
        return file;
    }
    const noSecret = (r: { stdout: string; stderr: string }) => {
        expect(`${r.stdout}${r.stderr}`).not.toContain(token);
    };

    test("off --graceful stops the last tier first; on starts tier 0 first", async () => {
        const off = await cli(["off", "--graceful", "--fleet", fleetFile(), "--concurrency", "4", "--json"], env);
        expect(off.code).toBe(exitCodes.ok);
        const report = off.json<FleetJson>();
        expect(report.direction).toBe("stop");
        expect(report.vms.map((v) => [v.name, v.status, v.reports[0]?.method])).toEqual([
            ["db-1", "done", "graceful"],
            ["web-1", "done", "graceful"],
            ["web-2", "done", "graceful"],
        ]);
        const stopJournal = hypervisor.takeJournal();
        expect(stopJournal.indexOf("shutdown-request db-1")).toBe(2);
        expect(stopJournal.slice(0, 2).sort()).toEqual(["shutdown-request web-1", "shutdown-request web-2"]);
        noSecret(off);

        const on = await cli(["on", "--fleet", fleetFile(), "--concurrency", "4", "--json"], env);
        expect(on.code).toBe(exitCodes.ok);
        const startJournal = hypervisor.takeJournal();
        expect(startJournal[0]).toBe("power-on db-1");
        expect(startJournal.slice(1).sort()).toEqual(["power-on web-1", "power-on web-2"]);
        expect(["db-1", "web-1", "web-2"].map((n) => hypervisor.vm(n).state)).toEqual(["running", "running", "running"]);
    });

    test("--dry-run prints the plan in run order with each VM's state and changes nothing", async () => {
        hypervisor.set("web-2", { state: "stopped" });
        hypervisor.takeJournal();
        const result = await cli(["off", "--graceful", "--fleet", fleetFile(), "--dry-run", "--json"], env);
        expect(result.code).toBe(exitCodes.ok);
        expect(result.json()).toMatchObject({
            action: "OffGraceful",
            direction: "stop",
            dryRun: true,
            vms: [
                { name: "web-1", tier: 1, tierName: "web", state: "running", wouldDo: "graceful shutdown, hard power-off after 3s" },
                { name: "web-2", tier: 1, state: "stopped", wouldDo: "nothing" },
                { name: "db-1", tier: 0, tierName: "database", state: "running" },
            ],
        });
        expect(hypervisor.takeJournal()).toEqual([]);
        expect(hypervisor.vm("web-1").state).toBe("running");
        const text = await cli(["restart", "--fleet", fleetFile(), "--dry-run"], env);
        expect(text.stdout.split("\n")[0]).toBe(
            "tier 0 (database) db-1: running -> graceful shutdown (hard power-off after 3s), then power on",
        );
        expect(hypervisor.takeJournal()).toEqual([]);
    });

    test("a VM forced after its timeout: exit 3; the others graceful", async () => {
        hypervisor.set("web-1", { guest: "hung" });
        const result = await cli(
            [
                "off",
                "--graceful",
                "--fleet",
                fleetFile([{ vms: [vm("db-1")] }, { vms: [vm("web-1", { gracefulShutdownTimeout: "300ms" }), vm("web-2")] }]),
            ],
            env,
        );
        expect(result.code).toBe(exitCodes.forced);
        expect(result.stdout).toMatch(/web-1.*by forced/);
        expect(result.stdout).toMatch(/3 done, 0 failed, 0 skipped/);
    });

    test("a failing tier halts the rollout: later tiers untouched and reported skipped, exit 1", async () => {
        const file = fleetFile([{ vms: [vm("db-1")] }, { vms: [vm("web-1"), vm("web-404")] }]);
        const result = await cli(["off", "--graceful", "--fleet", file, "--json"], env);
        expect(result.code).toBe(exitCodes.failure);
        const report = result.json<FleetJson>();
        expect(report.vms.map((v) => [v.name, v.status])).toEqual([
            ["db-1", "skipped"],
            ["web-1", "done"],
            ["web-404", "failed"],
        ]);
        expect(report.haltedBeforeTier).toBe(0);
        expect(hypervisor.takeJournal()).toEqual(["shutdown-request web-1"]);
        expect(hypervisor.vm("db-1").state).toBe("running");

        const goOn = await cli(["off", "--graceful", "--fleet", file, "--on-failure", "continue", "--json"], env);
        expect(goOn.code).toBe(exitCodes.failure);
        expect(goOn.json<FleetJson>().totals).toEqual(expect.objectContaining({ done: 2, failed: 1, skipped: 0 }));
        expect(hypervisor.vm("db-1").state).toBe("stopped");
    });

    test("restart --concurrency 1 rolls one VM at a time from tier 0: stop, start, next", async () => {
        const result = await cli(["restart", "--fleet", fleetFile(), "--concurrency", "1", "--json"], env);
        expect(result.code).toBe(exitCodes.ok);
        expect(hypervisor.takeJournal()).toEqual([
            "shutdown-request db-1",
            "power-on db-1",
            "shutdown-request web-1",
            "power-on web-1",
            "shutdown-request web-2",
            "power-on web-2",
        ]);
        const report = result.json<FleetJson>();
        expect(report.vms[0].reports.map((r) => [r.desired, r.method])).toEqual([
            ["OffGraceful", "graceful"],
            ["On", "powerOn"],
        ]);
    });

    test("--progress json: a line per phase per VM, tier events, heartbeats and a summary, all JSON", async () => {
        hypervisor.set("db-1", { shutdownDelayMs: 600 });
        const result = await cli(["off", "--graceful", "--fleet", fleetFile(), "--concurrency", "2", "--progress", "json"], {
            ...env,
            GRACEFUL_VM_HEARTBEAT_MS: "100",
        });
        expect(result.code).toBe(exitCodes.ok);
        const lines = result.stderr
            .trim()
            .split("\n")
            .map((l) => JSON.parse(l) as { type: string; vm?: string; phase?: string });
        expect(lines.filter((l) => l.type === "phase" && l.vm === "db-1").map((l) => l.phase)).toEqual(
            expect.arrayContaining(["read", "toolsCheck", "gracefulRequest", "gracefulWait", "verify"]),
        );
        expect(lines.filter((l) => l.type === "tierStarted")).toHaveLength(2);
        expect(lines.some((l) => l.type === "heartbeat")).toBe(true);
        expect(lines.at(-1)).toMatchObject({ type: "summary", done: 3, failed: 0, exitCode: 0 });
        noSecret(result);
    });

    test("status --fleet lists every VM's state", async () => {
        hypervisor.set("web-2", { state: "stopped" });
        const result = await cli(["status", "--fleet", fleetFile(), "--json"], env);
        expect(result.code).toBe(exitCodes.ok);
        expect(result.json<{ vms: { name: string; state: string }[] }>().vms.map((v) => [v.name, v.state])).toEqual([
            ["db-1", "running"],
            ["web-1", "running"],
            ["web-2", "stopped"],
        ]);
    });

    test("usage errors exit 2 and name the field, before any VM is touched", async () => {
        const cases: [string[], RegExp][] = [
            [["off", "--graceful", "--fleet", fleetFile(), "--concurrency", "0"], /--concurrency "0"/],
            [["off", "--graceful", "--domain", "x", "--dry-run"], /--dry-run applies to --fleet only/],
            [["off", "--fleet", fleetFile(), "--progress", "xml"], /--progress "xml"/],
            [["off", "--fleet", fleetFile([{ vms: [vm("a"), vm("a")] }])], /tiers\[0\]\.vms\[1\]\.name: "a" appears twice/],
            [
                ["off", "--fleet", fleetFile([{ vms: [vm("a", { gracefulShutdownTimeout: "soon" })] }])],
                /tiers\[0\]\.vms\[0\]\.gracefulShutdownTimeout/,
            ],
            [["off", "--fleet", fleetFile([])], /tiers: must be a non-empty list/],
        ];
        for (const [argv, message] of cases) {
            const result = await cli(argv, env);
            expect(result.code).toBe(exitCodes.usage);
            expect(result.stderr).toMatch(message);
        }
        expect(hypervisor.takeJournal()).toEqual([]);
    });
});
