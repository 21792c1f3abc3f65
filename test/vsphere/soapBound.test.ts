import * as https from "https";
import * as net from "net";
import { openVsphereDriver } from "../../src/drivers/vsphere/driver";
import { SoapTransport, VsphereConnectionError } from "../../src/drivers/vsphere/soap";
import { vsphereSpec } from "../../src/drivers/vsphere/spec";
import { systemClock } from "../../src/power/clock";
import { CallTimeoutError, TransientError } from "../../src/power/errors";
import { testCertificate } from "../security/tlsServer";

/**
 * Issue 12, vSphere: one SOAP call is bounded in wall-clock time from its first byte to its last
 * (a TLS handshake that never finishes, an answer that trickles in), and transient failures
 * (a reset, the proxy's 503 with Retry-After) are tried again. Loopback servers of our own.
 */
const serviceInstance = { type: "ServiceInstance", value: "ServiceInstance" };
const answer =
    `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">` +
    `<soapenv:Body><CurrentTimeResponse xmlns="urn:vim25"><returnval>2026-11-27T07:00:00Z</returnval></CurrentTimeResponse></soapenv:Body></soapenv:Envelope>`;
const fault =
    `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">` +
    `<soapenv:Body><soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>busy</faultstring>` +
    `<detail><SystemErrorFault xmlns="urn:vim25" xsi:type="SystemError"><reason>busy</reason></SystemErrorFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>`;

type Handler = (request: number, response: import("http").ServerResponse) => void;

async function soapServer(handle: Handler): Promise<{ url: URL; requests: () => number; close: () => Promise<void> }> {
    const certificate = testCertificate();
    let count = 0;
    const server = https.createServer({ key: certificate.key, cert: certificate.cert }, (req, res) => {
        req.resume();
        req.on("end", () => handle(++count, res));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as net.AddressInfo).port;
    return {
        url: new URL(`https://127.0.0.1:${port}/sdk`),
        requests: () => count,
        close: () =>
            new Promise<void>((resolve) => {
                server.closeAllConnections();
                server.close(() => resolve());
            }),
    };
}

function transport(url: URL, requestTimeoutMs = 800): SoapTransport {
    return new SoapTransport({ url, caCert: testCertificate().cert, requestTimeoutMs });
}

async function timed<T>(work: Promise<T>): Promise<{ ms: number; value?: T; error?: unknown }> {
    const started = Date.now();
    try {
        const value = await work;
        return { ms: Date.now() - started, value };
    } catch (error) {
        return { ms: Date.now() - started, error };
    }
}

describe("SOAP transport: bounded calls, retried transient failures", () => {
    test("an answer that trickles in (a byte every 100 ms) is cut at the wall-clock bound of each try", async () => {
        const server = await soapServer((_n, res) => {
            res.writeHead(200, { "Content-Type": "text/xml" });
            const timer = setInterval(() => res.write(" "), 100);
            res.on("close", () => clearInterval(timer));
        });
        const soap = transport(server.url, 500);
        try {
            const outcome = await timed(soap.call("CurrentTime", serviceInstance, ""));
            // An idle timeout never fires on a trickle: before the fix this call never ended.
            expect(outcome.error).toBeInstanceOf(TransientError);
            expect((outcome.error as Error).message).toMatch(/CurrentTime on ServiceInstance did not answer within 500 ms/);
            // Three tries of 500 ms and two pauses (0.5 s, 1 s) between them.
            expect(outcome.ms).toBeGreaterThanOrEqual(2 * 500);
            expect(outcome.ms).toBeLessThan(3 * 500 + 1_500 + 1_000);
            expect(server.requests()).toBe(3);
            expect(soap.attempts.filter((a) => !a.ok)).toHaveLength(3);
        } finally {
            soap.destroy();
            await server.close();
        }
    }, 20_000);

    test("a TLS handshake that never finishes is bounded too", async () => {
        const silent = net.createServer((socket) => socket.on("error", () => undefined));
        const sockets = new Set<net.Socket>();
        silent.on("connection", (s) => sockets.add(s));
        await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
        const url = new URL(`https://127.0.0.1:${(silent.address() as net.AddressInfo).port}/sdk`);
        const soap = new SoapTransport({ url, caCert: testCertificate().cert, requestTimeoutMs: 400, retries: 0 });
        try {
            const outcome = await timed(soap.call("CurrentTime", serviceInstance, ""));
            expect(outcome.error).toBeInstanceOf(CallTimeoutError);
            expect(outcome.ms).toBeGreaterThanOrEqual(390);
            expect(outcome.ms).toBeLessThan(1_400);
        } finally {
            soap.destroy();
            for (const s of sockets) s.destroy();
            await new Promise<void>((resolve) => silent.close(() => resolve()));
        }
    });

    test("a connection dropped before the answer (socket hang up) is tried again on a fresh connection", async () => {
        const server = await soapServer((n, res) => {
            if (n === 1) res.socket?.destroy();
            else res.writeHead(200, { "Content-Type": "text/xml" }).end(answer);
        });
        const soap = transport(server.url);
        try {
            const outcome = await timed(soap.call("CurrentTime", serviceInstance, ""));
            expect(outcome.error).toBeUndefined();
            expect(outcome.value?.name).toBe("CurrentTimeResponse");
            expect(server.requests()).toBe(2);
            expect(soap.callCounts.get("CurrentTime")).toBe(2);
            expect(soap.attempts.map((a) => a.ok)).toEqual([false, true]);
        } finally {
            soap.destroy();
            await server.close();
        }
    });

    test("the proxy's 503 with Retry-After is waited for and tried again; its words reach the attempts", async () => {
        const server = await soapServer((n, res) => {
            if (n === 1) res.writeHead(503, { "Retry-After": "1", "Content-Type": "text/plain" }).end("503 Service Unavailable");
            else res.writeHead(200, { "Content-Type": "text/xml" }).end(answer);
        });
        const soap = transport(server.url);
        try {
            const outcome = await timed(soap.call("CurrentTime", serviceInstance, ""));
            expect(outcome.error).toBeUndefined();
            expect(outcome.ms).toBeGreaterThanOrEqual(950);
            expect(soap.attempts[0]).toMatchObject({ ok: false, retryAfterMs: 1_000, error: expect.stringMatching(/HTTP 503/) });
        } finally {
            soap.destroy();
            await server.close();
        }
    });

    test("503s that outlast the tries end as a TransientError the sequence can wait out", async () => {
        const server = await soapServer((_n, res) => res.writeHead(503, { "Content-Type": "text/plain" }).end("503 Service Unavailable"));
        const soap = new SoapTransport({ url: server.url, caCert: testCertificate().cert, retries: 1 });
        try {
            const outcome = await timed(soap.call("CurrentTime", serviceInstance, ""));
            expect(outcome.error).toBeInstanceOf(TransientError);
            expect((outcome.error as TransientError).cause).toBeInstanceOf(VsphereConnectionError);
            expect(server.requests()).toBe(2);
        } finally {
            soap.destroy();
            await server.close();
        }
    });

    test("a SOAP fault is an answer: never tried again by the transport", async () => {
        const server = await soapServer((_n, res) => res.writeHead(500, { "Content-Type": "text/xml" }).end(fault));
        const soap = transport(server.url);
        try {
            await expect(soap.call("CurrentTime", serviceInstance, "")).rejects.toMatchObject({ faultType: "SystemError" });
            expect(server.requests()).toBe(1);
        } finally {
            soap.destroy();
            await server.close();
        }
    });

    test("windDown(): on an endpoint that stopped answering, the clean-up calls share one short budget, one try each", async () => {
        const server = await soapServer(() => undefined);
        const soap = transport(server.url, 10_000);
        try {
            soap.windDown(600);
            const logout = await timed(soap.call("Logout", { type: "SessionManager", value: "SessionManager" }, ""));
            const destroy = await timed(soap.call("DestroyPropertyCollector", { type: "PropertyCollector", value: "session[1]pc" }, ""));
            expect(logout.error).toBeInstanceOf(CallTimeoutError);
            expect(logout.ms).toBeLessThan(900);
            expect(destroy.error).toBeInstanceOf(VsphereConnectionError);
            expect((destroy.error as Error).message).toMatch(/clean-up time is used up/);
            expect(destroy.ms).toBeLessThan(50);
            expect(server.requests()).toBeLessThanOrEqual(1);
        } finally {
            soap.destroy();
            await server.close();
        }
    });

    test("logging in to an endpoint that stopped answering ends within the run's call bound, not a timeout per call", async () => {
        const server = await soapServer(() => undefined);
        const target = vsphereSpec.parseTarget(
            { url: server.url.href, username: "user", vm: "vm-1", caCert: testCertificate().cert },
            "target.vsphere",
        );
        try {
            const opening = openVsphereDriver(
                target,
                { password: "pw-frozen" },
                { clock: systemClock, log: () => undefined, callTimeoutMs: 700 },
            );
            const outcome = await timed(opening);
            expect(outcome.error).toBeInstanceOf(CallTimeoutError);
            expect((outcome.error as Error).message).toMatch(/vSphere login at 127\.0\.0\.1:\d+ did not answer within 700 ms/);
            expect(outcome.ms).toBeGreaterThanOrEqual(690);
            expect(outcome.ms).toBeLessThan(1_500);
        } finally {
            await server.close();
        }
    });

    test("destroy() ends a call that is waiting, at once", async () => {
        const server = await soapServer(() => undefined);
        const soap = transport(server.url, 10_000);
        try {
            const pending = timed(soap.call("CurrentTime", serviceInstance, ""));
            await new Promise((r) => setTimeout(r, 200));
            soap.destroy();
            const outcome = await pending;
            expect(outcome.error).toBeDefined();
            expect(outcome.ms).toBeLessThan(1_000);
        } finally {
            await server.close();
        }
    });
});
