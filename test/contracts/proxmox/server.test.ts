import * as https from "https";
import { ProxmoxContractServer } from "./server";
import { findEndpoint, loadSchema } from "./schema";

/**
 * The contract server itself against the published contract, over raw HTTPS (no client code
 * of the package is used here), so the driver tests rest on a server that says what PVE says.
 */

interface RawAnswer {
    status: number;
    reason: string;
    contentType: string;
    body: Record<string, unknown>;
}

let server: ProxmoxContractServer;
let token: string;

function raw(
    method: string,
    path: string,
    options: { body?: string; contentType?: string; authorization?: string | null } = {},
): Promise<RawAnswer> {
    const headers: Record<string, string> = {};
    const authorization = options.authorization === undefined ? `PVEAPIToken=${token}` : options.authorization;
    if (authorization !== null) headers.Authorization = authorization;
    if (options.body !== undefined) headers["Content-Type"] = options.contentType ?? "application/x-www-form-urlencoded";
    return new Promise((resolve, reject) => {
        const req = https.request(`${server.endpoint}/api2/json${path}`, { method, headers, ca: server.certificate.cert }, (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (c: Buffer) => chunks.push(c));
            res.on("end", () =>
                resolve({
                    status: res.statusCode ?? 0,
                    reason: res.statusMessage ?? "",
                    contentType: String(res.headers["content-type"]),
                    body: JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>,
                }),
            );
        });
        req.on("error", reject);
        req.end(options.body);
    });
}

/** A request to another server than the shared one, with an optional token; `text` is the raw body. */
function rawOn(
    on: ProxmoxContractServer,
    method: string,
    path: string,
    options: { body?: string; token?: string } = {},
): Promise<RawAnswer & { text: string }> {
    const tokenFor = options.token ?? on.addToken({ id: "automation@pve!other", secret: "other-secret-1" });
    const headers: Record<string, string> = { Authorization: `PVEAPIToken=${tokenFor}` };
    if (options.body !== undefined) headers["Content-Type"] = "application/x-www-form-urlencoded";
    return new Promise((resolve, reject) => {
        const req = https.request(`${on.endpoint}/api2/json${path}`, { method, headers, ca: on.certificate.cert }, (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (c: Buffer) => chunks.push(c));
            res.on("end", () => {
                const text = Buffer.concat(chunks).toString("utf8");
                resolve({
                    status: res.statusCode ?? 0,
                    reason: res.statusMessage ?? "",
                    contentType: String(res.headers["content-type"]),
                    body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
                    text,
                });
            });
        });
        req.on("error", reject);
        req.end(options.body);
    });
}

async function until(condition: () => boolean): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (!condition()) {
        if (Date.now() > deadline) throw new Error("condition not met within 10 s");
        await new Promise((r) => setTimeout(r, 20));
    }
}

async function taskEnd(upid: string): Promise<Record<string, unknown>> {
    for (;;) {
        const answer = await raw("GET", `/nodes/pve1/tasks/${encodeURIComponent(upid)}/status`);
        const data = answer.body.data as Record<string, unknown>;
        if (data.status === "stopped") return data;
        await new Promise((r) => setTimeout(r, 50));
    }
}

beforeAll(async () => {
    server = await ProxmoxContractServer.start({ authFailureDelayMs: 200 });
    token = server.addToken({ id: "automation@pve!ci", secret: "6f1c1d7e-0d8a-4c1e-9b67-2f9c3f1f5a10" });
});

afterAll(async () => {
    await server.stop();
});

describe("Proxmox contract server", () => {
    test("status/current answers a {data} envelope with the schema's required fields", async () => {
        server.addVm({ vmid: 101, agentConfigured: true });
        const answer = await raw("GET", "/nodes/pve1/qemu/101/status/current");
        expect(answer.status).toBe(200);
        expect(answer.contentType).toBe("application/json;charset=UTF-8");
        expect(answer.body.data).toMatchObject({ status: "running", qmpstatus: "running", agent: 1, ha: { managed: 0 }, vmid: 101 });
    });

    test("status/current and task status data match the schema's returns (types, required keys)", async () => {
        server.addVm({ vmid: 109, agentConfigured: true, lock: "backup" });
        const current = await raw("GET", "/nodes/pve1/qemu/109/status/current");
        expect(returnsProblems("/nodes/pve1/qemu/109/status/current", current.body.data)).toEqual([]);
        const started = await raw("POST", "/nodes/pve1/qemu/109/status/stop", { body: "" });
        const task = await raw("GET", `/nodes/pve1/tasks/${encodeURIComponent(started.body.data as string)}/status`);
        // `tokenid` is the one extra key PVE adds for token-started tasks (pve-manager Tasks.pm read_task_status).
        expect(returnsProblems("/nodes/pve1/tasks/x/status", task.body.data, ["tokenid"])).toEqual([]);
        await taskEnd(started.body.data as string);
    });

    test("a missing VM is HTTP 500 whose reason phrase is the message", async () => {
        const answer = await raw("GET", "/nodes/pve1/qemu/999/status/current");
        expect(answer.status).toBe(500);
        expect(answer.reason).toBe("Configuration file 'nodes/pve1/qemu-server/999.conf' does not exist");
        expect(answer.body).toEqual({ data: null, message: answer.reason });
    });

    test("a bad token is 401 after the deliberate delay; no header is 401 too", async () => {
        const started = Date.now();
        const bad = await raw("GET", "/nodes/pve1/qemu/101/status/current", { authorization: "PVEAPIToken=automation@pve!ci=wrong" });
        expect(bad.status).toBe(401);
        expect(bad.body).toEqual({ data: null, message: "authentication failure" });
        expect(Date.now() - started).toBeGreaterThanOrEqual(190);
        const none = await raw("GET", "/nodes/pve1/qemu/101/status/current", { authorization: null });
        expect(none.status).toBe(401);
    });

    test("form booleans must be 1/0; JSON bodies take real booleans; unknown keys are refused", async () => {
        server.addVm({ vmid: 102, status: "stopped" });
        const wrong = await raw("POST", "/nodes/pve1/qemu/102/status/shutdown", { body: "forceStop=true" });
        expect(wrong.status).toBe(400);
        expect(wrong.body.message).toBe("Parameter verification failed.");
        expect((wrong.body.errors as Record<string, string>).forceStop).toMatch(/type check \('boolean'\) failed/);
        const form = await raw("POST", "/nodes/pve1/qemu/102/status/shutdown", { body: "forceStop=1&timeout=5" });
        expect(form.status).toBe(200);
        const json = await raw("POST", "/nodes/pve1/qemu/102/status/shutdown", {
            body: JSON.stringify({ forceStop: true }),
            contentType: "application/json",
        });
        expect(json.status).toBe(200);
        const unknown = await raw("POST", "/nodes/pve1/qemu/102/status/stop", { body: "force=1" });
        expect(unknown.status).toBe(400);
        expect(Object.keys(unknown.body.errors as object)).toEqual(["force"]);
        const rootOnly = await raw("POST", "/nodes/pve1/qemu/102/status/stop", { body: "skiplock=1" });
        expect((rootOnly.body.errors as Record<string, string>).skiplock).toBe("Only root may use this option.");
        const lowVmid = await raw("GET", "/nodes/pve1/qemu/99/status/current");
        expect(lowVmid.status).toBe(400);
    });

    test("power POSTs answer a UPID; shutdown of a stopped VM is a task that ends OK", async () => {
        server.addVm({ vmid: 103, status: "stopped" });
        const answer = await raw("POST", "/nodes/pve1/qemu/103/status/shutdown", { body: "timeout=3" });
        const upid = answer.body.data as string;
        expect(upid).toMatch(/^UPID:pve1:[0-9A-F]{8}:[0-9A-F]{8,9}:[0-9A-F]{8}:qmshutdown:103:automation@pve!ci:$/);
        const end = await taskEnd(upid);
        expect(end).toMatchObject({
            status: "stopped",
            exitstatus: "OK",
            type: "qmshutdown",
            id: "103",
            user: "automation@pve",
            tokenid: "ci",
        });
    });

    test("a hung guest: shutdown fails with the timeout text; with forceStop it ends with warnings", async () => {
        server.addVm({ vmid: 104, shutdownDelayMs: "never", agentConfigured: false });
        const plain = await raw("POST", "/nodes/pve1/qemu/104/status/shutdown", { body: "timeout=1" });
        expect(await taskEnd(plain.body.data as string)).toMatchObject({ exitstatus: "VM quit/powerdown failed - got timeout" });
        expect(server.vms.get(104)?.running).toBe(true);
        const forced = await raw("POST", "/nodes/pve1/qemu/104/status/shutdown", { body: "timeout=1&forceStop=1" });
        expect(await taskEnd(forced.body.data as string)).toMatchObject({ exitstatus: "WARNINGS: 1" });
        expect(server.vms.get(104)?.running).toBe(false);
        const log = await raw("GET", `/nodes/pve1/tasks/${encodeURIComponent(forced.body.data as string)}/log`);
        expect((log.body.data as Array<{ n: number; t: string }>).map((l) => l.t)).toContain("TASK WARNINGS: 1");
    });

    test("stop without overrule-shutdown waits for the shutdown task's config lock; with it, aborts the task", async () => {
        const slow = await ProxmoxContractServer.start({ authFailureDelayMs: 10, configLockTimeoutMs: 300 });
        try {
            const t = slow.addToken({ id: "root@pam!ci", secret: "s3cr3t-value" });
            slow.addVm({ vmid: 105, shutdownDelayMs: "never" });
            const call = (method: string, path: string, body?: string): Promise<RawAnswer> => {
                const prev = { server, token };
                server = slow;
                token = t;
                return raw(method, path, { body }).finally(() => ((server = prev.server), (token = prev.token)));
            };
            const shutdown = await call("POST", "/nodes/pve1/qemu/105/status/shutdown", "timeout=30");
            const blocked = await call("POST", "/nodes/pve1/qemu/105/status/stop", "");
            const blockedEnd = await waitOn(slow, blocked.body.data as string);
            expect(blockedEnd).toMatch(/^can't lock file '\/var\/lock\/qemu-server\/lock-105.conf' - got timeout$/);
            const overruled = await call("POST", "/nodes/pve1/qemu/105/status/stop", "overrule-shutdown=1");
            expect(await waitOn(slow, overruled.body.data as string)).toBe("OK");
            expect(await waitOn(slow, shutdown.body.data as string)).toBe("received interrupt");
            expect(slow.vms.get(105)?.running).toBe(false);
        } finally {
            await slow.stop();
        }
    });

    test("a paused VM refuses a shutdown at once (500, no task); a locked VM's task fails naming the lock", async () => {
        server.addVm({ vmid: 106, qmpstatus: "paused" });
        const paused = await raw("POST", "/nodes/pve1/qemu/106/status/shutdown", { body: "" });
        expect(paused.status).toBe(500);
        expect(paused.reason).toBe("VM is paused - cannot shutdown");
        server.addVm({ vmid: 107, lock: "backup" });
        const locked = await raw("POST", "/nodes/pve1/qemu/107/status/stop", { body: "" });
        expect(await taskEnd(locked.body.data as string)).toMatchObject({ exitstatus: "VM is locked (backup)" });
    });

    test("start of a running VM: HTTP 200, then the task fails 'already running'", async () => {
        server.addVm({ vmid: 108 });
        const answer = await raw("POST", "/nodes/pve1/qemu/108/status/start", { body: "" });
        expect(answer.status).toBe(200);
        expect(await taskEnd(answer.body.data as string)).toMatchObject({ exitstatus: "VM 108 already running" });
    });

    test("task status: unparseable and unknown UPIDs are 400 with errors.upid; unknown methods are 501", async () => {
        const garbage = await raw("GET", `/nodes/pve1/tasks/${encodeURIComponent("not-a-upid")}/status`);
        expect(garbage.status).toBe(400);
        expect(garbage.body.errors).toEqual({ upid: "unable to parse worker upid" });
        const unknown = await raw(
            "GET",
            `/nodes/pve1/tasks/${encodeURIComponent("UPID:pve1:00000001:00000002:00000003:qmstop:101:root@pam:")}/status`,
        );
        expect(unknown.body.errors).toEqual({ upid: "no such task" });
        const missing = await raw("GET", "/nodes/pve1/qemu/101/status/bogus");
        expect(missing.status).toBe(501);
        expect(missing.body.message).toBe("Method 'GET /nodes/pve1/qemu/101/status/bogus' not implemented");
    });

    test("a token without VM.PowerMgmt gets 403 on power POSTs", async () => {
        const readOnly = server.addToken({ id: "viewer@pve!ro", secret: "ro-secret-123", privileges: ["VM.Audit"] });
        const answer = await raw("POST", "/nodes/pve1/qemu/101/status/stop", { body: "", authorization: `PVEAPIToken=${readOnly}` });
        expect(answer.status).toBe(403);
        expect(answer.body.message).toBe("Permission check failed (/vms/101, VM.PowerMgmt)");
    });

    test("/version answers the scenario's PVE version (8 or 9), matching the schema", async () => {
        for (const major of ["8", "9"] as const) {
            const versioned = await ProxmoxContractServer.start({ authFailureDelayMs: 10, pveVersion: major });
            try {
                const answer = await rawOn(versioned, "GET", "/version");
                expect(answer.status).toBe(200);
                expect((answer.body.data as { release: string }).release).toMatch(new RegExp(`^${major}\\.\\d+$`));
                expect(returnsProblems("/version", answer.body.data)).toEqual([]);
            } finally {
                await versioned.stop();
            }
        }
    });

    test("the VM list gives the QMP status only with full=1; ha and agent never", async () => {
        server.addVm({ vmid: 110 });
        const plain = await raw("GET", "/nodes/pve1/qemu");
        const entry = (plain.body.data as Array<Record<string, unknown>>).find((v) => v.vmid === 110)!;
        expect(entry).toMatchObject({ vmid: 110, status: "running" });
        expect(entry).not.toHaveProperty("qmpstatus");
        expect(entry).not.toHaveProperty("ha");
        expect(entry).not.toHaveProperty("agent");
        const full = await raw("GET", "/nodes/pve1/qemu?full=1");
        const fullEntry = (full.body.data as Array<Record<string, unknown>>).find((v) => v.vmid === 110)!;
        expect(fullEntry).toMatchObject({ qmpstatus: "running", "running-qemu": expect.any(String) });
        expect(returnsProblems("/nodes/pve1/qemu", full.body.data)).toEqual([]);
        expect((await raw("GET", "/nodes/pve1/qemu?full=true")).status).toBe(400);
    });

    test("/cluster/resources lists VMs with their node (and nodes), matching the schema; type filters", async () => {
        server.addVm({ vmid: 111, haManaged: true });
        const all = await raw("GET", "/cluster/resources");
        expect(returnsProblems("/cluster/resources", all.body.data)).toEqual([]);
        const vms = await raw("GET", "/cluster/resources?type=vm");
        const entry = (vms.body.data as Array<Record<string, unknown>>).find((r) => r.vmid === 111);
        expect(entry).toMatchObject({ id: "qemu/111", type: "qemu", node: "pve1", status: "running", hastate: "started" });
        expect((vms.body.data as Array<{ type: string }>).every((r) => r.type === "qemu")).toBe(true);
        const nodes = await raw("GET", "/cluster/resources?type=node");
        expect(nodes.body.data).toEqual([{ id: "node/pve1", type: "node", node: "pve1", status: "online" }]);
        expect((await raw("GET", "/cluster/resources?type=bogus")).status).toBe(400);
    });

    test("a down node: 595/596 with an empty body and the error in the reason phrase; /cluster/resources still answers", async () => {
        const cluster = await ProxmoxContractServer.start({ authFailureDelayMs: 10, nodes: ["pve1", "pve2"] });
        try {
            cluster.addVm({ vmid: 120, node: "pve2" });
            cluster.setNodeDown("pve2");
            const down = await rawOn(cluster, "GET", "/nodes/pve2/qemu/120/status/current");
            expect(down).toMatchObject({ status: 595, reason: "No route to host", text: "" });
            cluster.setNodeDown("pve2", { status: 596 });
            const broken = await rawOn(cluster, "POST", "/nodes/pve2/qemu/120/status/stop", { body: "" });
            expect(broken).toMatchObject({ status: 596, reason: "Connection timed out", text: "" });
            const resources = await rawOn(cluster, "GET", "/cluster/resources");
            expect(resources.body.data).toEqual(
                expect.arrayContaining([
                    expect.objectContaining({ id: "node/pve2", status: "offline" }),
                    expect.objectContaining({ id: "qemu/120", node: "pve2", status: "unknown" }),
                ]),
            );
            cluster.migrateVm(120, "pve1");
            expect((await rawOn(cluster, "GET", "/nodes/pve1/qemu/120/status/current")).status).toBe(200);
        } finally {
            await cluster.stop();
        }
    });

    test("HA: shutdown/stop only queue a request (hastop ends OK at once); HA acts later with its timeout and forceStop; a second stop is not run", async () => {
        const ha = await ProxmoxContractServer.start({ authFailureDelayMs: 10, haRoundMs: 150 });
        try {
            const vm = ha.addVm({ vmid: 130, haManaged: true, shutdownDelayMs: "never", agentConfigured: false });
            const asked = await rawOn(ha, "POST", "/nodes/pve1/qemu/130/status/shutdown", { body: "timeout=1" });
            expect(asked.body.data).toMatch(/:hastop:130:/);
            expect(await waitOn(ha, asked.body.data as string)).toBe("OK");
            expect(vm.running).toBe(true);
            expect(((await rawOn(ha, "GET", "/nodes/pve1/qemu/130/status/current")).body.data as { ha: unknown }).ha).toEqual({
                managed: 1,
                state: "started",
            });
            await until(() => vm.haState === "request_stop");
            const second = await rawOn(ha, "POST", "/nodes/pve1/qemu/130/status/stop", { body: "" });
            expect(await waitOn(ha, second.body.data as string)).toBe("OK");
            const overrule = await rawOn(ha, "POST", "/nodes/pve1/qemu/130/status/stop", { body: "overrule-shutdown=1" });
            expect(overrule.status).toBe(400);
            await until(() => ha.tasksOf(130, "qmshutdown").length === 1);
            const lrm = ha.tasksOf(130, "qmshutdown")[0];
            expect(lrm.authId).toBe("root@pam");
            await lrm.done;
            expect(lrm.exitstatus).toBe("WARNINGS: 1");
            expect(vm.running).toBe(false);
            expect(vm.haState).toBe("stopped");
            expect(ha.haRequests.map((r) => [r.command, r.timeoutS, r.outcome])).toEqual([
                ["stop", 1, "carried out"],
                ["stop", 0, "ignored (a stop is already under way)"],
            ]);
            expect(ha.tasksOf(130, "qmstop")).toEqual([]);
        } finally {
            await ha.stop();
        }
    });

    test("overrule-shutdown aborts another token's shutdown only with Sys.Modify", async () => {
        const pve = await ProxmoxContractServer.start({ authFailureDelayMs: 10, configLockTimeoutMs: 200 });
        try {
            const gui = pve.addToken({ id: "admin@pve!gui", secret: "gui-secret-1" });
            const plain = pve.addToken({ id: "automation@pve!ci", secret: "ci-secret-1" });
            const admin = pve.addToken({
                id: "ops@pve!ci",
                secret: "ops-secret-1",
                privileges: ["VM.Audit", "VM.PowerMgmt", "Sys.Modify"],
            });
            pve.addVm({ vmid: 140, shutdownDelayMs: "never" });
            const shutdown = await rawOn(pve, "POST", "/nodes/pve1/qemu/140/status/shutdown", { body: "timeout=60", token: gui });
            const blocked = await rawOn(pve, "POST", "/nodes/pve1/qemu/140/status/stop", { body: "overrule-shutdown=1", token: plain });
            expect(await waitOn(pve, blocked.body.data as string)).toBe(
                "can't lock file '/var/lock/qemu-server/lock-140.conf' - got timeout",
            );
            expect(pve.tasks.get(shutdown.body.data as string)?.status).toBe("running");
            const cancel = await rawOn(pve, "DELETE", `/nodes/pve1/tasks/${encodeURIComponent(shutdown.body.data as string)}`, {
                token: plain,
            });
            expect(cancel.status).toBe(403);
            const allowed = await rawOn(pve, "POST", "/nodes/pve1/qemu/140/status/stop", { body: "overrule-shutdown=1", token: admin });
            expect(await waitOn(pve, allowed.body.data as string)).toBe("OK");
            expect(await waitOn(pve, shutdown.body.data as string)).toBe("received interrupt");
        } finally {
            await pve.stop();
        }
    });

    test("an enabled agent that does not answer costs the 3 s guest-ping, then ACPI, and the task ends WARNINGS: 1", async () => {
        const pve = await ProxmoxContractServer.start({ authFailureDelayMs: 10, agentPingTimeoutMs: 300 });
        try {
            const vm = pve.addVm({ vmid: 150, agentConfigured: true, agentInstalled: false, shutdownDelayMs: 50 });
            const started = Date.now();
            const asked = await rawOn(pve, "POST", "/nodes/pve1/qemu/150/status/shutdown", { body: "timeout=10" });
            expect(await waitOn(pve, asked.body.data as string)).toBe("WARNINGS: 1");
            expect(vm.shutdownRequests).toEqual(["acpi"]);
            expect(vm.history.at(-1)!.at - started).toBeGreaterThanOrEqual(300);
            expect(pve.tasks.get(asked.body.data as string)?.log[0]).toMatch(/guest-ping' failed - got timeout$/);
        } finally {
            await pve.stop();
        }
    });

    test.each([
        ["8", "VM.Monitor"],
        ["9", "VM.GuestAgent.Audit"],
    ] as const)("agent/ping on PVE %s needs %s", async (major, privilege) => {
        const pve = await ProxmoxContractServer.start({ authFailureDelayMs: 10, pveVersion: major });
        try {
            pve.addVm({ vmid: 160 });
            const lean = pve.addToken({ id: "automation@pve!lean", secret: "lean-secret-1", privileges: ["VM.Audit", "VM.PowerMgmt"] });
            const denied = await rawOn(pve, "POST", "/nodes/pve1/qemu/160/agent/ping", { body: "", token: lean });
            expect(denied).toMatchObject({ status: 403, reason: `Permission check failed (/vms/160, ${privilege})` });
            const full = pve.addToken({ id: "automation@pve!full", secret: "full-secret-1", privileges: ["VM.Audit", privilege] });
            expect((await rawOn(pve, "POST", "/nodes/pve1/qemu/160/agent/ping", { body: "", token: full })).status).toBe(200);
        } finally {
            await pve.stop();
        }
    });
});

/** Differences between `data` and the published `returns` schema of the GET at `path` (each item, for lists). */
function returnsProblems(path: string, data: unknown, extraKeys: readonly string[] = []): string[] {
    type Shape = { type: string; properties: Record<string, { type: string; optional?: number }>; items?: Shape };
    const found = findEndpoint(loadSchema(), path);
    const schema = found?.endpoint.info.GET?.returns as Shape | undefined;
    if (schema?.type === "array" && schema.items) {
        if (!Array.isArray(data)) return [`expected a list, got ${JSON.stringify(data)}`];
        return data.flatMap((item, i) => itemProblems(schema.items!, item, extraKeys).map((p) => `[${i}] ${p}`));
    }
    if (!schema) return [`no GET schema for ${path}`];
    return itemProblems(schema, data, extraKeys);
}

function itemProblems(
    returns: { properties: Record<string, { type: string; optional?: number }> },
    data: unknown,
    extraKeys: readonly string[],
): string[] {
    const record = data as Record<string, unknown>;
    const problems: string[] = [];
    for (const [key, rule] of Object.entries(returns.properties)) {
        const value = record[key];
        if (value === undefined) {
            if (!rule.optional) problems.push(`${key}: required but missing`);
            continue;
        }
        const ok =
            rule.type === "integer"
                ? Number.isInteger(value)
                : rule.type === "number"
                  ? typeof value === "number"
                  : rule.type === "boolean"
                    ? value === 0 || value === 1 || typeof value === "boolean" // Perl booleans arrive as 1/0
                    : rule.type === "object"
                      ? typeof value === "object" && value !== null
                      : typeof value === rule.type;
        if (!ok) problems.push(`${key}: expected ${rule.type}, got ${JSON.stringify(value)}`);
    }
    for (const key of Object.keys(record)) {
        if (!(key in returns.properties) && !extraKeys.includes(key)) problems.push(`${key}: not in the schema`);
    }
    return problems;
}

async function waitOn(on: ProxmoxContractServer, upid: string): Promise<string | undefined> {
    const task = on.tasks.get(upid);
    if (!task) throw new Error(`no task ${upid}`);
    await task.done;
    return task.exitstatus;
}
