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
}

/** A failure to talk at all (refused, reset, TLS), as opposed to an HTTP error status. */
export class TransportError extends Error {
    constructor(
        message: string,
        public readonly code?: string,
    ) {
        super(message);
        this.name = "TransportError";
    }
}

/** One request, start to end, TLS handshake included (a wall-clock bound, not an idle timeout). */
const defaultRequestTimeoutMs = 20_000;
const maxResponseBytes = 8 * 1024 * 1024;

export class HttpClient {
    private readonly httpsAgent: https.Agent;
    private readonly httpAgent = new http.Agent({ keepAlive: true });

    /** `caCert`: extra PEM roots, trusted as src/drivers/common/tls.ts says (added to the system roots). */
    constructor(
        caCert?: string,
        private readonly requestTimeoutMs: number = defaultRequestTimeoutMs,
    ) {
        this.httpsAgent = httpsAgentFor({ caCert }, { maxSockets: Infinity });
    }

    send(request: HttpRequest): Promise<HttpResponse> {
        const { url } = request;
        // Plain http only for the link-local managed-identity endpoint; everything that carries
        // a bearer token or a client secret goes over TLS (enforced by the callers too).
        const transport = url.protocol === "https:" ? https : http;
        const agent = url.protocol === "https:" ? this.httpsAgent : this.httpAgent;
        const requestTimeoutMs = this.requestTimeoutMs;
        return new Promise<HttpResponse>((resolve, reject) => {
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
                    collectBody(
                        res,
                        maxResponseBytes,
                        () => res.destroy(new TransportError(`response from ${url.host} is larger than ${maxResponseBytes} bytes`)),
                        (text) => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }),
                    );
                    res.on("error", (e) => reject(transportError(e, url)));
                },
            );
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
            req.on("error", (e) => reject(transportError(e, url)));
            req.end(request.body);
        });
    }

    close(): void {
        this.httpsAgent.destroy();
        this.httpAgent.destroy();
    }
}

/** Names the host but never the path or query (which may carry tokens in some clouds). */
function transportError(error: Error, url: URL): Error {
    if (error instanceof TransportError) return error;
    if (error.name === "AbortError") return error;
    const code = (error as NodeJS.ErrnoException).code;
    return new TransportError(`cannot reach ${url.protocol}//${url.host}: ${code ?? error.message}`, code);
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
