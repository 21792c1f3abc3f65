import * as https from "https";
import * as net from "net";
import { ProxmoxClient } from "../../src/drivers/proxmox/client";
import { ProxmoxConnection, proxmoxConnectionsOpened } from "../../src/drivers/proxmox/connection";
import { ProxmoxDriver } from "../../src/drivers/proxmox/driver";
import { ProxmoxSession, proxmoxSessions } from "../../src/drivers/proxmox/session";
import { systemClock } from "../../src/power/clock";
import { FaultProxy } from "../contract/faultProxy";
import { PveFixture, apiToken, fastOptions, startPve } from "./setup";

/**
 * The Proxmox session a fleet shares, and the per-VM client over it: what a driver's close()
 * may end, and how every call is bounded and retried (issue 12: boundedCall, pollUntil).
 */

let pve: PveFixture;
beforeEach(async () => {
    pve = await startPve();
});
afterEach(async () => {
    await pve.server.stop();
});

const context = { clock: systemClock, log: () => undefined };

async function openSession(overrides = {}): Promise<ProxmoxSession> {
    return (await proxmoxSessions.open(pve.target(100, overrides), { apiToken }, context)) as ProxmoxSession;
}

function driverOn(session: ProxmoxSession, vmId: number): ProxmoxDriver {
    return new ProxmoxDriver(pve.target(vmId), { apiToken }, { ...context, session }, fastOptions);
}

describe("ProxmoxSession", () => {
    test("drivers share its one agent; a driver's close() leaves it open for the others; the session's close() ends it", async () => {
        pve.server.addVm({ vmid: 301 });
        pve.server.addVm({ vmid: 302 });
        const agents = proxmoxConnectionsOpened();
        const session = await openSession();
        const a = driverOn(session, 301);
        const b = driverOn(session, 302);
        await expect(a.readState()).resolves.toMatchObject({ state: "running" });
        await a.close();
        await expect(b.readState()).resolves.toMatchObject({ state: "running" });
        expect(proxmoxConnectionsOpened() - agents).toBe(1);
        // Sequential calls: one kept-alive connection carried the check and both VMs' reads.
        expect(pve.server.tls.handshakes).toBe(1);
        await session.close();
        await expect(b.readState()).rejects.toThrow(/closed/);
        await b.close();
    });

    test("opening checks the token once: a refused token or an untrusted certificate fails the session", async () => {
        await expect(proxmoxSessions.open(pve.target(100), { apiToken: "automation@pve!pulumi=wrong-secret" }, context)).rejects.toThrow(
            /refused the API token/,
        );
        await expect(proxmoxSessions.open(pve.target(100, { fingerprint: undefined }), { apiToken }, context)).rejects.toThrow(
            /TLS certificate .* was not accepted/,
        );
        expect(pve.server.requests.filter((r) => r.path.endsWith("/version"))).toHaveLength(1);
    });

    test("an endpoint that does not answer at open leaves each VM to its own calls instead of failing the run", async () => {
        const proxy = await FaultProxy.start(Number(new URL(pve.server.endpoint).port));
        try {
            proxy.set("refuse");
            const logs: string[] = [];
            const target = pve.target(100, { endpoint: `https://127.0.0.1:${proxy.port}` });
            const session = (await proxmoxSessions.open(target, { apiToken }, { ...context, log: (m) => logs.push(m) })) as ProxmoxSession;
            expect(logs.join("\n")).toMatch(/first call failed \(cannot reach .*ECONN.*\); each VM tries on its own/);
            await session.close();
        } finally {
            await proxy.stop();
        }
    });

    test("the shared cluster listing answers VMs found missing at about the same time, and is read again for a later move", async () => {
        const server = await startPve({ nodes: ["pve1", "pve2"] });
        try {
            for (const vmid of [321, 322, 323]) server.server.addVm({ vmid });
            const session = (await proxmoxSessions.open(server.target(100), { apiToken }, context)) as ProxmoxSession;
            server.server.migrateVm(321, "pve2");
            server.server.migrateVm(322, "pve2");
            const missedAt = systemClock.now();
            await expect(session.locate(321, "pve1", missedAt)).resolves.toMatchObject({ node: "pve2" });
            await expect(session.locate(322, "pve1", missedAt)).resolves.toMatchObject({ node: "pve2" });
            expect(session.resourceReads).toBe(1);
            // Moved after that listing: the cached one still shows it on pve1, so a new one is read.
            await new Promise((r) => setTimeout(r, 5));
            server.server.migrateVm(323, "pve2");
            await expect(session.locate(323, "pve1", systemClock.now())).resolves.toMatchObject({ node: "pve2" });
            expect(session.resourceReads).toBe(2);
            await session.close();
        } finally {
            await server.server.stop();
        }
    });

    test("the session's key separates endpoints, trust settings and tokens, never VMs", () => {
        const key = (overrides = {}, token = apiToken) => proxmoxSessions.key(pve.target(100, overrides), { apiToken: token });
        expect(key({ vmId: 101, node: "pve2" })).toBe(key());
        expect(key({ endpoint: "https://other:8006" })).not.toBe(key());
        expect(key({ fingerprint: undefined, caCert: pve.server.certificate.cert })).not.toBe(key());
        expect(key({}, "automation@pve!other=x")).not.toBe(key());
    });
});

describe("ProxmoxClient over a shared connection", () => {
    test("close() ends this VM's request in flight at once and leaves another VM's request running", async () => {
        const accepted: net.Socket[] = [];
        const silent = net.createServer((socket) => void accepted.push(socket));
        await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
        const endpoint = `https://127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
        const connection = new ProxmoxConnection({ endpoint, apiToken, insecure: true });
        try {
            const mine = new ProxmoxClient(connection, { requestTimeoutMs: 1_500 });
            const other = new ProxmoxClient(connection, { requestTimeoutMs: 1_500 });
            const started = Date.now();
            const mineCall = mine.get("/version").then(
                () => "answered",
                (e: Error) => e.message,
            );
            const otherCall = other.get("/version").then(
                () => ({ message: "answered", at: Date.now() }),
                (e: Error) => ({ message: e.message, at: Date.now() }),
            );
            await new Promise((r) => setTimeout(r, 200));
            mine.close();
            expect(await mineCall).toMatch(/the driver closed before the answer came/);
            expect(Date.now() - started).toBeLessThan(1_000);
            // The other VM's request went on until its own bound.
            const otherResult = await otherCall;
            expect(otherResult.message).toMatch(/no answer to GET \/version within 1500 ms/);
            expect(otherResult.at - started).toBeGreaterThanOrEqual(1_400);
        } finally {
            connection.close();
            accepted.forEach((s) => s.destroy());
            silent.close();
        }
    });
});

describe("bounded, retried calls (boundedCall inside the client)", () => {
    test("a POST reset on a kept-alive socket is sent again on a new one; a POST reset on a fresh connection is not", async () => {
        const cert = pve.server.certificate;
        const handled: string[] = [];
        let dropNext: "second on a socket" | "first on a socket" = "second on a socket";
        const perSocket = new WeakMap<object, number>();
        const server = https.createServer({ key: cert.key, cert: cert.cert }, (req, res) => {
            const n = (perSocket.get(req.socket) ?? 0) + 1;
            perSocket.set(req.socket, n);
            if (
                req.method === "POST" &&
                ((dropNext === "second on a socket" && n === 2) || (dropNext === "first on a socket" && n === 1))
            ) {
                // The socket goes away before an answer (a keep-alive timeout racing the request).
                req.socket.destroy();
                return;
            }
            handled.push(`${req.method} ${req.url}`);
            res.writeHead(200, { "Content-Type": "application/json" });
            res.end(JSON.stringify({ data: "ok" }));
        });
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
        const endpoint = `https://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
        const client = new ProxmoxClient(new ProxmoxConnection({ endpoint, apiToken, fingerprint: cert.fingerprint256, maxSockets: 1 }), {
            requestTimeoutMs: 2_000,
        });
        try {
            await client.get("/version");
            await expect(client.post("/nodes/pve1/qemu/100/status/shutdown")).resolves.toBe("ok");
            expect(handled).toEqual(["GET /api2/json/version", "POST /api2/json/nodes/pve1/qemu/100/status/shutdown"]);

            dropNext = "first on a socket";
            client.connection.close();
            const fresh = new ProxmoxClient(new ProxmoxConnection({ endpoint, apiToken, fingerprint: cert.fingerprint256 }), {
                requestTimeoutMs: 2_000,
            });
            await expect(fresh.post("/nodes/pve1/qemu/100/status/shutdown")).rejects.toThrow(/cannot reach Proxmox VE/);
            expect(handled).toHaveLength(2);
            fresh.connection.close();
        } finally {
            client.connection.close();
            server.closeAllConnections();
            server.close();
        }
    });

    test("a read answered 503 with Retry-After is tried again after the time the server named", async () => {
        pve.server.addVm({ vmid: 311 });
        pve.server.injectedFailures.push({
            method: "GET",
            pathSuffix: "/qemu/311/status/current",
            status: 503,
            message: "Service Unavailable",
            retryAfter: "1",
        });
        const driver = pve.driver(311);
        try {
            await expect(driver.readState()).resolves.toMatchObject({ state: "running" });
        } finally {
            await driver.close();
        }
        const reads = pve.server.requests.filter((r) => r.path.endsWith("/qemu/311/status/current"));
        expect(reads.map((r) => r.status)).toEqual([503, 200]);
        expect(reads[1].at - reads[0].at).toBeGreaterThanOrEqual(950);
        expect(pve.logs.join("\n")).toMatch(/status\/current: answered on try 2 \(try 1: .*503.*Retry-After 1000 ms\)/);
    });

    test("a shutdown refused with 429 is sent again (nothing was started); one answered 500 is not", async () => {
        pve.server.addVm({ vmid: 312, shutdownDelayMs: 200 });
        pve.server.injectedFailures.push({
            method: "POST",
            pathSuffix: "/qemu/312/status/shutdown",
            status: 429,
            message: "Too many requests",
            retryAfter: "0",
        });
        const driver = pve.driver(312);
        try {
            await expect(driver.requestGuestShutdown(systemClock.now() + 10_000)).resolves.toMatchObject({ method: "pve-shutdown" });
            expect(pve.server.requests.filter((r) => r.path.endsWith("/312/status/shutdown")).map((r) => r.status)).toEqual([429, 200]);
            expect(pve.server.tasksOf(312, "qmshutdown")).toHaveLength(1);

            pve.server.injectedFailures.push({
                method: "POST",
                pathSuffix: "/qemu/312/status/stop",
                status: 500,
                message: "got an internal error",
            });
            await expect(driver.powerOffHard()).rejects.toThrow(/HTTP 500: got an internal error/);
            expect(pve.server.requests.filter((r) => r.path.endsWith("/312/status/stop"))).toHaveLength(1);
        } finally {
            await driver.close();
        }
    });

    test("waitForGuestAgent rides out an endpoint restarting, and says false (never throws) when it is down until the deadline", async () => {
        const vm = pve.server.addVm({ vmid: 313, status: "stopped", agentBootDelayMs: 600 });
        const proxy = await FaultProxy.start(Number(new URL(pve.server.endpoint).port));
        const driver = pve.driver(313, { endpoint: `https://127.0.0.1:${proxy.port}` }, { ...fastOptions, requestTimeoutMs: 500 });
        try {
            vm.start("qm start");
            proxy.for("refuse", 1_000);
            await expect(driver.waitForGuestAgent(systemClock.now() + 6_000)).resolves.toBe(true);

            proxy.set("refuse");
            const started = Date.now();
            await expect(driver.waitForGuestAgent(systemClock.now() + 1_500)).resolves.toBe(false);
            expect(Date.now() - started).toBeLessThan(3_500);
        } finally {
            await driver.close();
            await proxy.stop();
        }
    });
});
