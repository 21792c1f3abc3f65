import * as https from "https";
import * as net from "net";
import { systemClock } from "../../src/power/clock";
import { CallTimeoutError, TransientError } from "../../src/power/errors";
import { CallAttempt, boundedCall, isTransientFailure, parseRetryAfter } from "../../src/drivers/common/boundedCall";
import { pollUntil } from "../../src/drivers/common/pollUntil";
import { FakeClock } from "../power/fakes";

describe("pollUntil", () => {
    test("never throws for the deadline: resolves with the latest value", async () => {
        const clock = new FakeClock();
        const deadline = clock.now() + 10_000;
        let reads = 0;
        const result = await pollUntil({ clock, deadline, intervalMs: 1_000, read: async () => ++reads, done: () => false });
        expect(result).toMatchObject({ reached: false, value: 11, rounds: 11 });
        expect(clock.now()).toBe(deadline);
    });

    test("waits out transient failures and reports them", async () => {
        const clock = new FakeClock();
        let reads = 0;
        const result = await pollUntil({
            clock,
            deadline: clock.now() + 60_000,
            intervalMs: 1_000,
            read: async () => {
                reads++;
                if (reads >= 2 && reads <= 4) throw new TransientError("ECONNREFUSED");
                return reads;
            },
            done: (v) => v >= 6,
        });
        expect(result).toMatchObject({ reached: true, value: 6, failures: ["ECONNREFUSED", "ECONNREFUSED", "ECONNREFUSED"] });
    });

    test("a failure that is not transient is thrown", async () => {
        const clock = new FakeClock();
        const attempt = pollUntil({
            clock,
            deadline: clock.now() + 60_000,
            intervalMs: 1_000,
            read: () => Promise.reject(new Error("VM gone")),
            done: () => true,
        });
        await expect(attempt).rejects.toThrow("VM gone");
    });
});

describe("boundedCall", () => {
    test("a TLS handshake that never finishes is bounded in wall-clock time, each try recorded", async () => {
        // Accepts TCP and never speaks: the client's ClientHello gets no answer.
        const sockets: net.Socket[] = [];
        const server = net.createServer((s) => sockets.push(s));
        await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
        const port = (server.address() as net.AddressInfo).port;
        const attempts: CallAttempt[] = [];
        const started = Date.now();
        try {
            const call = boundedCall(
                { op: "GET /", clock: systemClock, timeoutMs: 300, retries: 1, attempts },
                (signal) =>
                    new Promise((resolve, reject) => {
                        const req = https.request({ host: "127.0.0.1", port, path: "/", signal, rejectUnauthorized: false }, resolve);
                        req.on("error", reject);
                        req.end();
                    }),
            );
            await expect(call).rejects.toBeInstanceOf(CallTimeoutError);
        } finally {
            sockets.forEach((s) => s.destroy());
            server.close();
        }
        const elapsed = Date.now() - started;
        expect(attempts.map((a) => a.ok)).toEqual([false, false]);
        // Two tries of 300 ms and one backoff of 500 ms: never a 60 s socket timeout, twice.
        expect(elapsed).toBeLessThan(2_500);
    });

    test("a 503 burst with Retry-After is retried after the time asked, then succeeds", async () => {
        const clock = new FakeClock();
        const attempts: CallAttempt[] = [];
        let tries = 0;
        const start = clock.now();
        const value = await boundedCall({ op: "POST powerOff", clock, timeoutMs: 5_000, retries: 3, attempts }, async () => {
            tries++;
            if (tries <= 2) throw Object.assign(new Error("503 Service Unavailable"), { status: 503, retryAfterMs: 7_000 });
            return "accepted";
        });
        expect(value).toBe("accepted");
        expect(attempts.map((a) => [a.ok, a.retryAfterMs])).toEqual([
            [false, 7_000],
            [false, 7_000],
            [true, undefined],
        ]);
        expect(clock.now() - start).toBe(14_000);
    });

    test("without Retry-After it backs off; a lasting failure leaves as a TransientError", async () => {
        const clock = new FakeClock();
        const call = boundedCall({ op: "GET state", clock, timeoutMs: 5_000, retries: 2 }, () =>
            Promise.reject(Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" })),
        );
        await expect(call).rejects.toBeInstanceOf(TransientError);
    });

    test("a permanent failure is not retried", async () => {
        const clock = new FakeClock();
        const attempts: CallAttempt[] = [];
        const call = boundedCall({ op: "POST", clock, timeoutMs: 5_000, attempts }, () =>
            Promise.reject(Object.assign(new Error("403 Forbidden"), { status: 403 })),
        );
        await expect(call).rejects.toThrow("403 Forbidden");
        expect(attempts).toHaveLength(1);
    });

    test("classifies failures and parses Retry-After", () => {
        expect(isTransientFailure(Object.assign(new Error("x"), { statusCode: 502 }))).toBe(true);
        expect(isTransientFailure(Object.assign(new Error("x"), { status: 404 }))).toBe(false);
        expect(isTransientFailure(new Error("outer", { cause: Object.assign(new Error("inner"), { code: "EPIPE" }) }))).toBe(true);
        expect(parseRetryAfter("3")).toBe(3_000);
        expect(parseRetryAfter(new Date(10_000).toUTCString(), 4_000)).toBe(6_000);
        expect(parseRetryAfter(undefined)).toBeUndefined();
    });
});
