import * as http from "http";
import * as https from "https";
import { collectBody } from "../responseBody";
import { httpsAgentFor } from "../common/tls";

/**
 * The one place the Azure driver touches the network: a small request over Node's own
 * https, so the driver needs no SDK (the Azure SDK's current majors require Node 22).
 */
export interface HttpResponse {
    readonly status: number;
    readonly headers: http.IncomingHttpHeaders;
    readonly text: string;
}

export interface HttpRequest {
    readonly method: "GET" | "POST";
    readonly url: URL;
    readonly headers?: Record<string, string>;
    readonly body?: string;
    readonly signal?: AbortSignal;
    /** This request's wall-clock bound, start to end. @default the client's */
    readonly timeoutMs?: number;
}

/** A failure to talk at all (refused, reset, TLS), as opposed to an HTTP error status. */
export class TransportError extends Error {
    /**
     * The server cannot have acted on the request: the connection was refused or its TLS
     * handshake never finished (nothing was written), or a kept-alive socket was closed under
     * it before any answer (the race Node documents for `reusedSocket`). Safe to send again,
     * even a POST.
     */
    readonly unsent: boolean;
    /** The HTTP status, for a token endpoint's 5xx or 429 reported as a transport failure. */
    readonly status?: number;
    /** How long the server asked us to wait, when it did. */
    readonly retryAfterMs?: number;

    constructor(
        message: string,
        public readonly code?: string,
        details: { readonly unsent?: boolean; readonly status?: number; readonly retryAfterMs?: number } = {},
    ) {
        super(message);
        this.name = "TransportError";
        this.unsent = details.unsent ?? false;
        if (details.status !== undefined) this.status = details.status;
        if (details.retryAfterMs !== undefined) this.retryAfterMs = details.retryAfterMs;
    }
}

/** One request, start to end, TLS handshake included (a wall-clock bound, not an idle timeout). */
const defaultRequestTimeoutMs = 20_000;
/**
 * A new connection's TCP connect and TLS handshake get this share of the request's bound (at
 * most 10 s): a handshake that stalls is given up early enough to try a fresh connection
 * within the same bound. On loopback or a LAN a handshake takes milliseconds.
 */
const handshakeShare = 1 / 3;
const maxHandshakeTimeoutMs = 10_000;
const maxResponseBytes = 8 * 1024 * 1024;
/** Sockets whose connection (and TLS handshake) completed: later requests on them are on a kept-alive connection. */
const established = new WeakSet<object>();

export interface HttpClientOptions {
    /**
     * Connections kept per origin. Many VMs sharing one client (a fleet's session) reuse these
     * instead of each opening its own (each TLS handshake costs the client CPU).
     * @default Infinity
     */
    readonly maxSockets?: number;
}

export class HttpClient {
    private readonly httpsAgent: https.Agent;
    private readonly httpAgent = new http.Agent({ keepAlive: true });

    /** `caCert`: extra PEM roots, trusted as src/drivers/common/tls.ts says (added to the system roots). */
    constructor(
        caCert?: string,
        private readonly requestTimeoutMs: number = defaultRequestTimeoutMs,
        options: HttpClientOptions = {},
    ) {
        // The TLS context comes from tls.ts's cache: built once per CA bundle, not per connection.
        this.httpsAgent = httpsAgentFor({ caCert }, { maxSockets: options.maxSockets ?? Infinity });
    }

    /** The bound a request gets when it names none. */
    get defaultTimeoutMs(): number {
        return this.requestTimeoutMs;
    }

    send(request: HttpRequest): Promise<HttpResponse> {
        const { url } = request;
        // Plain http only for the link-local managed-identity endpoint; everything that carries
        // a bearer token or a client secret goes over TLS (enforced by the callers too).
        const secure = url.protocol === "https:";
        const transport = secure ? https : http;
        const agent = secure ? this.httpsAgent : this.httpAgent;
        const requestTimeoutMs = request.timeoutMs ?? this.requestTimeoutMs;
        const handshakeTimeoutMs = Math.min(maxHandshakeTimeoutMs, Math.max(1, Math.ceil(requestTimeoutMs * handshakeShare)));
        return new Promise<HttpResponse>((resolve, reject) => {
            /** The connection is up (handshake done, or a kept-alive socket): the request may have gone out. */
            let connected = false;
            let reused = false;
            let answered = false;
            const fail = (e: Error): void => {
                const staleSocket = reused && !answered && (e as NodeJS.ErrnoException).code === "ECONNRESET";
                reject(transportError(e, url, !connected || staleSocket));
            };
            const req = transport.request(
                url,
                {
                    method: request.method,
                    agent,
                    headers: {
                        Accept: "application/json",
                        "User-Agent": "pulumi-graceful-vm",
                        ...(request.body !== undefined
                            ? { "Content-Length": String(Buffer.byteLength(request.body)) }
                            : { "Content-Length": "0" }),
                        ...request.headers,
                    },
                    timeout: requestTimeoutMs,
                    signal: request.signal,
                },
                (res) => {
                    answered = true;
                    collectBody(
                        res,
                        maxResponseBytes,
                        () => res.destroy(new TransportError(`response from ${url.host} is larger than ${maxResponseBytes} bytes`)),
                        (text) => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }),
                    );
                    res.on("error", fail);
                },
            );
            req.on("socket", (socket) => {
                // A kept-alive socket: handed out free (reusedSocket) or to a request that queued
                // for it (the agent does not flag those). A new one cannot have finished its
                // handshake yet: that takes a round trip.
                reused = req.reusedSocket || established.has(socket);
                if (reused) {
                    connected = true;
                    return;
                }
                // A handshake that never finishes (a frozen or half-open peer): given up early,
                // with nothing written, so the caller may try a fresh connection at once.
                const handshake = setTimeout(
                    () =>
                        req.destroy(
                            new TransportError(
                                `no ${secure ? "TLS handshake" : "connection"} with ${url.host} within ${handshakeTimeoutMs} ms`,
                                "ETIMEDOUT",
                                { unsent: true },
                            ),
                        ),
                    handshakeTimeoutMs,
                );
                handshake.unref();
                socket.once(secure ? "secureConnect" : "connect", () => {
                    connected = true;
                    established.add(socket);
                    clearTimeout(handshake);
                });
                socket.once("close", () => clearTimeout(handshake));
            });
            // The socket's own timeout only counts idle time once connected; this one counts from the start.
            const timer = setTimeout(
                () => req.destroy(new TransportError(`no answer from ${url.host} within ${requestTimeoutMs} ms`, "ETIMEDOUT")),
                requestTimeoutMs,
            );
            timer.unref();
            req.on("close", () => clearTimeout(timer));
            req.on("timeout", () =>
                req.destroy(new TransportError(`no answer from ${url.host} within ${requestTimeoutMs} ms`, "ETIMEDOUT")),
            );
            req.on("error", fail);
            req.end(request.body);
        });
    }

    close(): void {
        this.httpsAgent.destroy();
        this.httpAgent.destroy();
    }
}

/** Names the host but never the path or query (which may carry tokens in some clouds). */
function transportError(error: Error, url: URL, unsent: boolean): Error {
    if (error instanceof TransportError) {
        if (!unsent || error.unsent) return error;
        return new TransportError(error.message, error.code, { unsent, status: error.status, retryAfterMs: error.retryAfterMs });
    }
    if (error.name === "AbortError") return error;
    const code = (error as NodeJS.ErrnoException).code;
    return new TransportError(`cannot reach ${url.protocol}//${url.host}: ${code ?? error.message}`, code, { unsent });
}

/** `Retry-After` in ms: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(headers: http.IncomingHttpHeaders, now: number = Date.now()): number | undefined {
    const raw = headers["retry-after"];
    const value = Array.isArray(raw) ? raw[0] : raw;
    if (value === undefined || value.trim() === "") return undefined;
    if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
    const date = Date.parse(value);
    return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

export function header(headers: http.IncomingHttpHeaders, name: string): string | undefined {
    const raw = headers[name.toLowerCase()];
    return Array.isArray(raw) ? raw[0] : raw;
}
