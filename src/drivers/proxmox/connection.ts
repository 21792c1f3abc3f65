import * as https from "https";
import { AuthenticationError } from "../../power/errors";
import { parseRetryAfter } from "../common/boundedCall";
import { httpsAgentFor, isTlsVerificationCode } from "../common/tls";
import { collectBody } from "../responseBody";
import { ProxmoxApiError, ProxmoxPermissionError, ProxmoxTlsError, ProxmoxUnreachableError, parsePermissionMessage } from "./errors";

/** How to reach one PVE API endpoint as one identity. */
export interface ProxmoxConnectionOptions {
    /** `https://host:8006` (normalised by the spec: no trailing slash, no `/api2/json`). */
    readonly endpoint: string;
    /** `USER@REALM!TOKENID=SECRET`. Sent only in the Authorization header, never logged. */
    readonly apiToken: string;
    readonly insecure?: boolean;
    readonly caCert?: string;
    /** Upper-case `AA:BB:...` SHA-256 fingerprint of the server's leaf certificate. */
    readonly fingerprint?: string;
    /** The pinned agent's own bound on a TLS handshake (the caller bounds each try as a whole too). @default 30000 */
    readonly handshakeTimeoutMs?: number;
    /**
     * Connections kept to the endpoint at once. One VM needs few; a fleet's session shares one
     * agent between all VMs of the endpoint. @default 4
     */
    readonly maxSockets?: number;
}

const maxResponseBytes = 8 * 1024 * 1024;

/** How many connections (HTTPS agents) were opened in this process; benchmarks and tests read it. */
let opened = 0;
export function proxmoxConnectionsOpened(): number {
    return opened;
}

/**
 * One HTTPS agent to a PVE endpoint with one API token: the transport every request of a VM,
 * or of every VM of a fleet on that endpoint, goes through. It sends one try of a request and
 * turns the answer into data or a typed error; timeouts and retries are the client's. It
 * unwraps the `{"data": ...}` envelope; 401/403 become AuthenticationError, other statuses
 * ProxmoxApiError with the server's message (and `Retry-After`, when sent).
 *
 * A refused token (401) is remembered: every later request fails at once with the same error
 * instead of asking again. PVE delays each refusal by 3 s on purpose, and a fleet of VMs
 * sharing a revoked token would otherwise queue one delayed refusal per request.
 */
export class ProxmoxConnection {
    /** Requests sent on this connection (all VMs sharing it). */
    requestCount = 0;
    private readonly agent: https.Agent;
    private readonly authorization: string;
    private refusal?: AuthenticationError;
    private closed = false;
    private readonly maxInFlight: number;
    private inFlight = 0;
    /** Sockets that carried a request already (kept alive). */
    private readonly usedSockets = new WeakSet<object>();
    /** Requests waiting for one in flight to end. */
    private readonly waiting: Array<() => void> = [];

    constructor(private readonly options: ProxmoxConnectionOptions) {
        this.authorization = `PVEAPIToken=${options.apiToken}`;
        this.maxInFlight = options.maxSockets ?? 4;
        this.agent = httpsAgentFor(options, {
            handshakeTimeoutMs: options.handshakeTimeoutMs ?? 30_000,
            maxSockets: options.maxSockets ?? 4,
            pinMismatch: (presented, pinned) =>
                new ProxmoxTlsError(
                    options.endpoint,
                    `its SHA-256 fingerprint ${presented ?? "(none)"} does not match the pinned ${pinned}`,
                ),
        });
        opened++;
    }

    get endpoint(): string {
        return this.options.endpoint;
    }

    /** The token was refused (HTTP 401) earlier in this run. */
    get refused(): AuthenticationError | undefined {
        return this.refusal;
    }

    /**
     * One try of `method path`; `signal` aborts it (its socket is destroyed, the TLS handshake
     * included). A network error carries `reusedSocket` when it hit a kept-alive socket the
     * server had closed: nothing of the request was processed then.
     */
    async send<T>(method: string, path: string, body: string | undefined, signal: AbortSignal): Promise<T> {
        await this.slot(signal);
        try {
            return await this.sendNow<T>(method, path, body, signal);
        } finally {
            this.inFlight--;
            this.waiting.shift()?.();
        }
    }

    /**
     * Waits until fewer than `maxSockets` requests are in flight. The agent alone does not
     * bound its connections while they are being opened (a pinned agent verifies each one
     * before handing it over), so a fleet's first burst would open one TLS connection per VM.
     */
    private async slot(signal: AbortSignal): Promise<void> {
        if (this.inFlight < this.maxInFlight) {
            this.inFlight++;
            return;
        }
        await new Promise<void>((resolve, reject) => {
            const onAbort = (): void => {
                const index = this.waiting.indexOf(go);
                if (index >= 0) this.waiting.splice(index, 1);
                reject(signal.reason);
            };
            const go = (): void => {
                signal.removeEventListener("abort", onAbort);
                this.inFlight++;
                resolve();
            };
            if (signal.aborted) return onAbort();
            signal.addEventListener("abort", onAbort, { once: true });
            this.waiting.push(go);
        });
    }

    private sendNow<T>(method: string, path: string, body: string | undefined, signal: AbortSignal): Promise<T> {
        if (this.refusal) return Promise.reject(this.refusal);
        if (this.closed) return Promise.reject(new ProxmoxUnreachableError(this.options.endpoint, "the connection is closed"));
        this.requestCount++;
        const url = new URL(`${this.options.endpoint}/api2/json${path}`);
        const headers: Record<string, string | number> = { Authorization: this.authorization, Accept: "application/json" };
        if (body !== undefined) {
            headers["Content-Type"] = "application/x-www-form-urlencoded";
            headers["Content-Length"] = Buffer.byteLength(body);
        }
        const shownPath = path.split("?")[0];
        return new Promise<T>((resolve, reject) => {
            // The agent flags `reusedSocket` only for a socket it had free at once, not for one a
            // request waited for: remember which sockets carried a request before.
            let reused = false;
            const req = https.request(url, { method, headers, agent: this.agent, signal }, (res) => {
                collectBody(
                    res,
                    maxResponseBytes,
                    () =>
                        req.destroy(
                            new ProxmoxUnreachableError(
                                this.options.endpoint,
                                `the answer to ${method} ${shownPath} exceeded ${maxResponseBytes} bytes`,
                            ),
                        ),
                    (text) => {
                        try {
                            resolve(this.unwrap<T>(method, shownPath, res, text));
                        } catch (e) {
                            reject(e);
                        }
                    },
                );
                res.on("error", (e) => reject(this.translateNetworkError(e, method, shownPath, reused)));
            });
            req.on("socket", (socket) => {
                reused = req.reusedSocket || this.usedSockets.has(socket);
                this.usedSockets.add(socket);
            });
            req.on("error", (e) => reject(this.translateNetworkError(e, method, shownPath, reused)));
            req.end(body);
        });
    }

    /** Closes kept-alive connections. Safe to call twice. */
    close(): void {
        this.closed = true;
        this.agent.destroy();
    }

    private unwrap<T>(
        method: string,
        path: string,
        res: { statusCode?: number; statusMessage?: string; headers: Record<string, unknown> },
        text: string,
    ): T {
        const status = res.statusCode ?? 0;
        const body = parseJson(text);
        if (status >= 200 && status < 300) {
            if (!body || !("data" in body)) {
                throw new ProxmoxApiError(method, path, status, `the answer is not a {"data": ...} envelope: ${text.slice(0, 200)}`);
            }
            return body.data as T;
        }
        const reason = res.statusMessage ?? "";
        const message = typeof body?.message === "string" && body.message.trim() !== "" ? body.message.trim() : reason || `HTTP ${status}`;
        if (status === 401) {
            this.refusal = new AuthenticationError(
                `Proxmox VE at ${this.options.endpoint} refused the API token (HTTP 401: ${message}). ` +
                    `Check apiToken: USER@REALM!TOKENID=SECRET of a token that exists, is not expired, and whose user is enabled`,
            );
            throw this.refusal;
        }
        if (status === 403) {
            const checked = parsePermissionMessage(message);
            throw new ProxmoxPermissionError(
                `Proxmox VE at ${this.options.endpoint} refused ${method} ${path} for this API token (HTTP 403: ${message})` +
                    (checked ? `: the token lacks ${checked.privilege} on ${checked.aclPath}` : ""),
                checked?.privilege,
                checked?.aclPath,
            );
        }
        const errors = body?.errors && typeof body.errors === "object" ? (body.errors as Record<string, string>) : undefined;
        const retryAfter = res.headers["retry-after"];
        const retryAfterMs = parseRetryAfter(typeof retryAfter === "string" ? retryAfter : undefined);
        throw new ProxmoxApiError(method, path, status, message, errors, retryAfterMs);
    }

    private translateNetworkError(error: Error, method: string, path: string, reusedSocket: boolean): Error {
        if (error instanceof ProxmoxUnreachableError || error instanceof ProxmoxTlsError) return error;
        // An abort is the caller's (a timeout, a closing driver): it knows why and says so.
        if (error.name === "AbortError") return error;
        const code = (error as NodeJS.ErrnoException).code ?? "";
        if (isTlsVerificationCode(code)) return new ProxmoxTlsError(this.options.endpoint, `${code}: ${error.message}`);
        return new ProxmoxUnreachableError(this.options.endpoint, `${method} ${path}: ${code ? `${code} ` : ""}${error.message}`, {
            code,
            reusedSocket,
        });
    }
}

function parseJson(text: string): Record<string, unknown> | undefined {
    try {
        const parsed: unknown = JSON.parse(text);
        return parsed && typeof parsed === "object" && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
    } catch {
        return undefined;
    }
}
