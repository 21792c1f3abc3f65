import * as fs from "fs";
import * as https from "https";
import * as net from "net";
import * as path from "path";
import { CachedToken, ClientSecretCredential } from "../../src/drivers/azure/credentials";
import { HttpClient, TransportError } from "../../src/drivers/azure/http";
import { systemClock } from "../../src/power/clock";
import { AuthenticationError } from "../../src/power/errors";
import { FaultProxy } from "../contract/faultProxy";
import { AzureContractServer } from "../contracts/azure/server";
import { clientId, clientSecret, closeAll, startRig, tenantId } from "./setup";

/**
 * Transient trouble on the Azure path: the sign-in retried where the token endpoint could not be
 * reached (and only there), requests bounded through stalled handshakes, waits riding out outages.
 */

const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
    await closeAll();
});

const token = (name: string, lifetimeMs = 60 * 60_000) => ({ token: name, expiresOnTimestamp: Date.now() + lifetimeMs });

describe("azure token cache", () => {
    test("a reset during the token request is tried again; the token is fetched once for everyone", async () => {
        let calls = 0;
        const cache = new CachedToken(
            {
                getToken: async () => {
                    if (++calls === 1) throw new TransportError("cannot reach https://login: ECONNRESET", "ECONNRESET");
                    return token("t1");
                },
            },
            "s",
            Date.now,
            undefined,
            { clock: systemClock, timeoutMs: 5_000 },
        );
        expect(await Promise.all([cache.get(), cache.get(), cache.get()])).toEqual(["t1", "t1", "t1"]);
        expect(calls).toBe(2);
    });

    test("a refusal is final for the cache: later callers get it without another request", async () => {
        let calls = 0;
        const cache = new CachedToken(
            {
                getToken: async () => {
                    calls++;
                    throw new AuthenticationError("Entra ID refused a token: invalid_client");
                },
            },
            "s",
        );
        await expect(cache.get()).rejects.toThrow(/invalid_client/);
        await expect(cache.get()).rejects.toBeInstanceOf(AuthenticationError);
        expect(calls).toBe(1);
    });

    test("refusals of a token already replaced do not refresh it again", async () => {
        let issued = 0;
        const cache = new CachedToken({ getToken: async () => token(`t${++issued}`) }, "s");
        const old = await cache.get();
        cache.invalidate(old);
        expect(await cache.get()).toBe("t2");
        // Other VMs' requests with the old token come back refused after the refresh.
        cache.invalidate(old);
        cache.invalidate(old);
        expect(await cache.get()).toBe("t2");
        expect(issued).toBe(2);
    });

    test("a short-lived token is refreshed a quarter of its lifetime early, not at every call", async () => {
        let now = 0;
        let issued = 0;
        const cache = new CachedToken(
            { getToken: async () => ({ token: `t${++issued}`, expiresOnTimestamp: now + 4_000 }) },
            "s",
            () => now,
        );
        expect(await cache.get()).toBe("t1");
        now = 2_900;
        expect(await cache.get()).toBe("t1");
        now = 3_100;
        expect(await cache.get()).toBe("t2");
    });
});

describe("azure HTTP client: a TLS handshake that never finishes", () => {
    test("is given up at a third of the request's bound, as unsent (safe to send again)", async () => {
        // Accepts connections and never answers: the TLS handshake hangs.
        const sockets: net.Socket[] = [];
        const server = net.createServer((s) => void sockets.push(s));
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
        closers.push(() => new Promise<void>((resolve) => (sockets.forEach((s) => s.destroy()), server.close(() => resolve()))));
        const http = new HttpClient(undefined, 900);
        closers.push(() => http.close());
        const started = Date.now();
        const failure = http.send({ method: "POST", url: new URL(`https://127.0.0.1:${(server.address() as net.AddressInfo).port}/t`) });
        await expect(failure).rejects.toBeInstanceOf(TransportError);
        await expect(failure).rejects.toMatchObject({
            unsent: true,
            code: "ETIMEDOUT",
            message: expect.stringMatching(/no TLS handshake .* within 300 ms/),
        });
        expect(Date.now() - started).toBeLessThan(850);
    });

    test("a request that waited for a kept-alive connection gets no handshake bound of its own", async () => {
        // Two requests, one connection: the second is handed the first's socket once it is free.
        const dir = path.join(__dirname, "..", "contracts", "azure", "certs");
        const server = https.createServer(
            { key: fs.readFileSync(path.join(dir, "server-key.pem")), cert: fs.readFileSync(path.join(dir, "server.pem")) },
            (_req, res) => setTimeout(() => res.end("{}"), 600),
        );
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
        closers.push(() => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))));
        const http = new HttpClient(fs.readFileSync(path.join(dir, "ca.pem"), "utf8"), 1_500, { maxSockets: 1 });
        closers.push(() => http.close());
        const url = new URL(`https://127.0.0.1:${(server.address() as net.AddressInfo).port}/`);
        const answers = await Promise.all([http.send({ method: "GET", url }), http.send({ method: "GET", url })]);
        expect(answers.map((a) => a.status)).toEqual([200, 200]);
    });

    test("during the sign-in: tried again on a fresh connection, one token issued", async () => {
        const server = await AzureContractServer.start({ principals: [{ tenantId, clientId, clientSecret }] });
        closers.push(() => server.stop());
        const proxy = await FaultProxy.start(Number(new URL(server.url).port));
        closers.push(() => proxy.stop());
        const origin = `https://127.0.0.1:${proxy.port}`;
        const http = new HttpClient(server.caCert, 1_500);
        closers.push(() => http.close());
        const logs: string[] = [];
        const cache = new CachedToken(
            new ClientSecretCredential(http, origin, tenantId, clientId, clientSecret),
            `${origin}/.default`,
            Date.now,
            undefined,
            { clock: systemClock, timeoutMs: 1_500, log: (m) => logs.push(m) },
        );
        proxy.for("halfOpen", 700);
        const started = Date.now();
        expect(await cache.get()).toBe(server.issuedTokens[0]);
        expect(Date.now() - started).toBeLessThan(1_500 + 1_000);
        expect(server.issuedTokens).toHaveLength(1);
        expect(logs.join("\n")).toMatch(/sign-in: no TLS handshake with 127\.0\.0\.1:\d+ within 500 ms; trying again/);
    });
});

describe("azure ARM calls through a stalling connection", () => {
    test("a power action whose handshake never finished is sent again, and the VM starts once", async () => {
        const rig = await startRig({ operationMs: 100 }, { powerState: "stopped" });
        const proxy = await FaultProxy.start(Number(new URL(rig.server.url).port));
        closers.push(() => proxy.stop());
        const origin = `https://127.0.0.1:${proxy.port}`;
        rig.server.advertiseOrigin(origin);
        const driver = rig.driver({ requestTimeoutMs: 1_500 }, undefined, { resourceManagerEndpoint: origin, authorityHost: origin });
        expect((await driver.readState()).state).toBe("stopped");
        // The kept-alive connection is gone and new ones hang in their handshake for a while.
        proxy.set("reset");
        proxy.for("halfOpen", 700);
        await driver.powerOn();
        const posts = rig.server.armRequests().filter((r) => r.method === "POST");
        expect(posts.map((r) => r.path.split("/").at(-1))).toEqual(["start"]);
        expect(rig.vm.powerState).toBe("running");
        expect(rig.logs.join("\n")).toMatch(/start: no TLS handshake with 127\.0\.0\.1:\d+ within 500 ms; retrying/);
    });
});

describe("azure long-running operations through an outage", () => {
    test.each(["azure-asyncoperation", "location"] as const)(
        "%s: status reads failing past the per-call retries are waited out until the operation ends",
        async (lroStyle) => {
            const rig = await startRig({ lroStyle, operationMs: 1_500 }, { powerState: "stopped" });
            // More 503s than one call's tries (5): the wait itself must ride them out.
            rig.server.inject({
                method: "GET",
                path: /\/(operations|operationResults)\//,
                status: 503,
                headers: { "Retry-After": "0" },
                body: { error: { code: "ServiceUnavailable", message: "try later" } },
                times: 7,
            });
            await rig.driver().powerOn();
            expect(rig.vm.powerState).toBe("running");
            const statusReads = rig.server.armRequests().filter((r) => /\/(operations|operationResults)\//.test(r.path));
            expect(statusReads.filter((r) => r.status === 503)).toHaveLength(7);
            expect(statusReads.at(-1)?.status).toBe(200);
        },
        30_000,
    );
});
