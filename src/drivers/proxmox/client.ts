import * as https from "https";
import { AuthenticationError } from "../../power/errors";
import { collectBody } from "../responseBody";
import { ProxmoxApiError, ProxmoxPermissionError, ProxmoxTlsError, ProxmoxUnreachableError, parsePermissionMessage } from "./errors";
import { httpsAgentFor, isTlsVerificationCode } from "../common/tls";

/** How to reach one PVE API endpoint. */
export interface ProxmoxClientOptions {
    /** `https://host:8006` (normalised by the spec: no trailing slash, no `/api2/json`). */
    readonly endpoint: string;
    /** `USER@REALM!TOKENID=SECRET`. Sent only in the Authorization header, never logged. */
    readonly apiToken: string;
    readonly insecure?: boolean;
    readonly caCert?: string;
    /** Upper-case `AA:BB:...` SHA-256 fingerprint of the server's leaf certificate. */
    readonly fingerprint?: string;
    /**
     * How long one request may take. PVE delays a refused login by 3 s on purpose, so keep
     * this well above that. @default 30000
     */
    readonly requestTimeoutMs?: number;
}

/** Parameters of a POST: form-encoded, with booleans as `1`/`0` (PVE rejects `true`). */
export type FormParameters = Readonly<Record<string, string | number | boolean | undefined>>;

const defaultRequestTimeoutMs = 30_000;
const maxResponseBytes = 8 * 1024 * 1024;

/**
 * A typed, minimal client for the PVE JSON API (`/api2/json`) with API-token auth. It unwraps
 * the `{"data": ...}` envelope and turns error statuses into typed errors: 401/403 become
 * AuthenticationError (never retried), others ProxmoxApiError with the server's message.
 */
export class ProxmoxClient {
    /** Requests sent so far, for reports and benchmarks. */
    requestCount = 0;
    private readonly agent: https.Agent;
    private readonly authorization: string;
    private readonly timeoutMs: number;

    constructor(private readonly options: ProxmoxClientOptions) {
        this.authorization = `PVEAPIToken=${options.apiToken}`;
        this.timeoutMs = options.requestTimeoutMs ?? defaultRequestTimeoutMs;
        this.agent = httpsAgentFor(options, {
            handshakeTimeoutMs: this.timeoutMs,
            pinMismatch: (presented, pinned) =>
                new ProxmoxTlsError(
                    options.endpoint,
                    `its SHA-256 fingerprint ${presented ?? "(none)"} does not match the pinned ${pinned}`,
                ),
        });
    }

    get endpoint(): string {
        return this.options.endpoint;
    }

    get<T>(path: string, query: FormParameters = {}): Promise<T> {
        const search = encodeForm(query);
        return this.request<T>("GET", search ? `${path}?${search}` : path);
    }

    post<T>(path: string, parameters: FormParameters = {}): Promise<T> {
        return this.request<T>("POST", path, encodeForm(parameters));
    }

    delete<T>(path: string): Promise<T> {
        return this.request<T>("DELETE", path);
    }

    /** Closes kept-alive connections. Safe to call twice. */
    close(): void {
        this.agent.destroy();
    }

    private request<T>(method: string, path: string, body?: string): Promise<T> {
        this.requestCount++;
        const url = new URL(`${this.options.endpoint}/api2/json${path}`);
        const headers: Record<string, string | number> = { Authorization: this.authorization, Accept: "application/json" };
        if (body !== undefined) {
            headers["Content-Type"] = "application/x-www-form-urlencoded";
            headers["Content-Length"] = Buffer.byteLength(body);
        }
        const shownPath = path.split("?")[0];
        return new Promise<T>((resolve, reject) => {
            const req = https.request(url, { method, headers, agent: this.agent }, (res) => {
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
                            resolve(this.unwrap<T>(method, shownPath, res.statusCode ?? 0, res.statusMessage ?? "", text));
                        } catch (e) {
                            reject(e);
                        }
                    },
                );
                res.on("error", (e) => reject(this.translateNetworkError(e, method, shownPath)));
            });
            req.setTimeout(this.timeoutMs, () => {
                req.destroy(
                    new ProxmoxUnreachableError(this.options.endpoint, `no answer to ${method} ${shownPath} within ${this.timeoutMs} ms`),
                );
            });
            req.on("error", (e) => reject(this.translateNetworkError(e, method, shownPath)));
            req.end(body);
        });
    }

    private unwrap<T>(method: string, path: string, status: number, reason: string, text: string): T {
        const body = parseJson(text);
        if (status >= 200 && status < 300) {
            if (!body || !("data" in body)) {
                throw new ProxmoxApiError(method, path, status, `the answer is not a {"data": ...} envelope: ${text.slice(0, 200)}`);
            }
            return body.data as T;
        }
        const message = typeof body?.message === "string" && body.message.trim() !== "" ? body.message.trim() : reason || `HTTP ${status}`;
        if (status === 401) {
            throw new AuthenticationError(
                `Proxmox VE at ${this.options.endpoint} refused the API token (HTTP 401: ${message}). ` +
                    `Check apiToken: USER@REALM!TOKENID=SECRET of a token that exists, is not expired, and whose user is enabled`,
            );
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
        throw new ProxmoxApiError(method, path, status, message, errors);
    }

    private translateNetworkError(error: Error, method: string, path: string): Error {
        if (error instanceof ProxmoxUnreachableError || error instanceof ProxmoxTlsError) return error;
        const code = (error as NodeJS.ErrnoException).code ?? "";
        if (isTlsVerificationCode(code)) return new ProxmoxTlsError(this.options.endpoint, `${code}: ${error.message}`);
        return new ProxmoxUnreachableError(this.options.endpoint, `${method} ${path}: ${code ? `${code} ` : ""}${error.message}`);
    }
}

function encodeForm(parameters: FormParameters): string {
    const form = new URLSearchParams();
    for (const [key, value] of Object.entries(parameters)) {
        if (value === undefined) continue;
        form.append(key, typeof value === "boolean" ? (value ? "1" : "0") : String(value));
    }
    return form.toString();
}

function parseJson(text: string): Record<string, unknown> | undefined {
    try {
        const parsed: unknown = JSON.parse(text);
        return parsed && typeof parsed === "object" && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
    } catch {
        return undefined;
    }
}
