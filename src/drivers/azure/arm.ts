import { Clock } from "../../power/clock";
import { AuthenticationError } from "../../power/errors";
import { CachedToken } from "./credentials";
import { HttpClient, HttpResponse, TransportError, header, retryAfterMs } from "./http";

/**
 * Just enough of Azure Resource Manager for power operations: bearer auth with one token
 * refresh on 401, throttling (429, `Retry-After`), CloudError bodies, and long-running
 * operations tracked through `Azure-AsyncOperation` or `Location`, whichever ARM sends.
 */
export const computeApiVersion = "2025-04-01";

/** ARM answered with an error (`{"error": {code, message}}`), or an operation ended Failed/Canceled. */
export class ArmError extends Error {
    constructor(
        /** What we asked, e.g. `powerOff`. */
        public readonly operation: string,
        /** HTTP status, or 200 for an operation whose status document says Failed/Canceled. */
        public readonly status: number,
        /** ARM's error code (`OperationNotAllowed`), or `HTTP 500` when the body had none. */
        public readonly code: string,
        public readonly armMessage: string,
        /** `Failed` or `Canceled` when a long-running operation ended that way. */
        public readonly operationStatus?: string,
    ) {
        super(
            `Azure ${operation} ${operationStatus ? `ended ${operationStatus}` : `failed with HTTP ${status}`}: ${code}${armMessage ? `: ${armMessage}` : ""}`,
        );
        this.name = "ArmError";
    }
}

/** An accepted long-running operation: where and how to follow it. */
export interface PendingOperation {
    readonly operation: string;
    /** Already complete (ARM answered 200/204 at once). */
    readonly done: boolean;
    readonly style?: "azure-asyncoperation" | "location";
    readonly pollUrl?: URL;
    /** Where ARM said to read the final result (`Location`), when both headers came. */
    readonly resultUrl?: URL;
    readonly retryAfterMs?: number;
}

export interface ArmClientOptions {
    readonly http: HttpClient;
    /** `https://management.azure.com`. */
    readonly endpoint: string;
    readonly token: CachedToken;
    readonly clock: Clock;
    readonly log: (message: string) => void;
    /** Used when ARM sends no Retry-After while an operation runs (the Azure SDK also uses 2 s). */
    readonly defaultPollIntervalMs?: number;
}

const maxThrottleRetries = 6;
const maxTransientRetries = 3;
const defaultThrottleWaitMs = 10_000;
/** The RPC allows up to 10 minutes; waiting that long inside one `pulumi up` helps no one. */
const maxRetryAfterMs = 60_000;
/** `Retry-After: 0` would otherwise turn polling into a busy loop. */
const minPollIntervalMs = 200;
const transientStatuses = [500, 502, 503, 504];

export class ArmClient {
    private readonly origin: string;

    constructor(private readonly options: ArmClientOptions) {
        this.origin = new URL(options.endpoint).origin;
    }

    /** GET a resource path (`/subscriptions/...`) and parse its JSON. */
    async getJson(operation: string, path: string, query: Record<string, string> = {}, signal?: AbortSignal): Promise<unknown> {
        const response = await this.send(operation, "GET", this.url(path, query), signal);
        if (response.status !== 200) throw this.errorFrom(operation, response);
        try {
            return JSON.parse(response.text) as unknown;
        } catch {
            throw new ArmError(operation, response.status, "InvalidJson", "ARM answered 200 with a body that is not JSON");
        }
    }

    /** POSTs an action and returns as soon as ARM accepted it. */
    async begin(operation: string, path: string, query: Record<string, string> = {}, signal?: AbortSignal): Promise<PendingOperation> {
        const response = await this.send(operation, "POST", this.url(path, query), signal);
        if (response.status === 200 || response.status === 201 || response.status === 204) return { operation, done: true };
        if (response.status !== 202) throw this.errorFrom(operation, response);
        const asyncOperation = this.trackingUrl(header(response.headers, "azure-asyncoperation"));
        const location = this.trackingUrl(header(response.headers, "location"));
        const wait = retryAfterMs(response.headers);
        // Learn, "Track asynchronous Azure operations": prefer Azure-AsyncOperation when both come.
        if (asyncOperation)
            return {
                operation,
                done: false,
                style: "azure-asyncoperation",
                pollUrl: asyncOperation,
                resultUrl: location,
                retryAfterMs: wait,
            };
        if (location) return { operation, done: false, style: "location", pollUrl: location, retryAfterMs: wait };
        // 202 with nothing to follow: accepted, and only the VM's own state will tell.
        this.options.log(`ARM accepted ${operation} without a status URL; following the VM's power state instead`);
        return { operation, done: true };
    }

    /** Follows an accepted operation to its end; throws ArmError on Failed/Canceled. */
    async wait(pending: PendingOperation, deadline: number, signal?: AbortSignal): Promise<void> {
        if (pending.done || !pending.pollUrl) return;
        let delay = pending.retryAfterMs;
        let pollUrl = pending.pollUrl;
        for (;;) {
            await this.pause(delay ?? this.options.defaultPollIntervalMs ?? 2_000, deadline, signal);
            if (signal?.aborted) return;
            if (this.options.clock.now() >= deadline) {
                throw new ArmError(pending.operation, 0, "OperationTimedOut", "the operation was still running when our deadline passed");
            }
            const response = await this.send(`${pending.operation} (status)`, "GET", pollUrl, signal);
            delay = retryAfterMs(response.headers);
            if (pending.style === "location") {
                if (response.status === 202) {
                    // The RPC lets each 202 name the next URL to poll.
                    pollUrl = this.trackingUrl(header(response.headers, "location")) ?? pollUrl;
                    continue;
                }
                if (response.status >= 200 && response.status < 300) return;
                throw this.errorFrom(pending.operation, response);
            }
            // Azure-AsyncOperation: 200 with a status document; any other status means reading it failed.
            if (response.status !== 200) throw this.errorFrom(`${pending.operation} (status)`, response);
            const document = parseJson(response.text) as { status?: unknown; error?: { code?: unknown; message?: unknown } } | undefined;
            const status = typeof document?.status === "string" ? document.status : "";
            if (/^succeeded$/i.test(status)) return;
            if (/^(failed|canceled|cancelled)$/i.test(status)) {
                const code = typeof document?.error?.code === "string" ? document.error.code : "OperationFailed";
                const message = typeof document?.error?.message === "string" ? document.error.message : "";
                throw new ArmError(pending.operation, response.status, code, message, status);
            }
        }
    }

    private url(path: string, query: Record<string, string>): URL {
        const url = new URL(path, this.origin);
        url.searchParams.set("api-version", computeApiVersion);
        for (const [key, value] of Object.entries(query)) url.searchParams.set(key, value);
        return url;
    }

    /**
     * Status URLs come from response headers. The bearer token only goes to the ARM endpoint
     * it was issued for, never to another host a header names.
     */
    private trackingUrl(value: string | undefined): URL | undefined {
        if (!value) return undefined;
        let url: URL;
        try {
            url = new URL(value, this.origin);
        } catch {
            return undefined;
        }
        if (url.origin !== this.origin) {
            this.options.log(`ignoring an operation status URL on ${url.host}: it is not the ARM endpoint ${this.origin}`);
            return undefined;
        }
        return url;
    }

    /** One request with auth, a token refresh on 401, and retries on throttling and transient errors. */
    private async send(operation: string, method: "GET" | "POST", url: URL, signal?: AbortSignal): Promise<HttpResponse> {
        if (url.origin !== this.origin) throw new Error(`refusing to send the ARM token to ${url.host}`);
        let refreshed = false;
        let throttled = 0;
        let transient = 0;
        for (;;) {
            const token = await this.options.token.get();
            let response: HttpResponse;
            try {
                response = await this.options.http.send({ method, url, headers: { Authorization: `Bearer ${token}` }, signal });
            } catch (e) {
                // A reset connection is worth another try for reads; an action might have landed.
                if (e instanceof TransportError && method === "GET" && transient < maxTransientRetries && !signal?.aborted) {
                    transient++;
                    this.options.log(`${operation}: ${e.message}; retrying`);
                    await this.options.clock.sleep(1_000 * transient, signal);
                    continue;
                }
                throw e;
            }
            if (response.status === 401 && !refreshed) {
                // The token may have expired or been revoked since we cached it: one fresh try.
                refreshed = true;
                this.options.token.invalidate();
                continue;
            }
            if (response.status === 429 && throttled < maxThrottleRetries) {
                throttled++;
                const wait = Math.min(retryAfterMs(response.headers) ?? defaultThrottleWaitMs, maxRetryAfterMs);
                this.options.log(
                    `${operation}: ARM is throttling requests (429); retrying in ${Math.ceil(wait / 1000)}s as Retry-After asks`,
                );
                await this.options.clock.sleep(wait, signal);
                continue;
            }
            if (transientStatuses.includes(response.status) && method === "GET" && transient < maxTransientRetries) {
                transient++;
                const wait = Math.min(retryAfterMs(response.headers) ?? 1_000 * transient, maxRetryAfterMs);
                this.options.log(`${operation}: ARM answered ${response.status}; retrying in ${Math.ceil(wait / 1000)}s`);
                await this.options.clock.sleep(wait, signal);
                continue;
            }
            return response;
        }
    }

    private async pause(ms: number, deadline: number, signal?: AbortSignal): Promise<void> {
        const left = deadline - this.options.clock.now();
        await this.options.clock.sleep(Math.max(0, Math.min(Math.max(ms, minPollIntervalMs), maxRetryAfterMs, left)), signal);
    }

    /** Maps an ARM error response to the core's error types, keeping ARM's code. */
    errorFrom(operation: string, response: HttpResponse): Error {
        const { code, message } = cloudError(response);
        if (response.status === 401) {
            return new AuthenticationError(
                `ARM refused the token for ${operation} (401 ${code}${message ? `: ${message}` : ""}); check the credential, tenant and that it has not expired`,
            );
        }
        if (response.status === 403) {
            return new AuthenticationError(
                `the Azure identity may not ${operation} this VM (403 ${code}${message ? `: ${message}` : ""}); it needs e.g. the Virtual Machine Contributor role`,
            );
        }
        return new ArmError(operation, response.status, code, message);
    }
}

function cloudError(response: HttpResponse): { code: string; message: string } {
    const body = parseJson(response.text) as { error?: { code?: unknown; message?: unknown } } | undefined;
    const code = typeof body?.error?.code === "string" ? body.error.code : `HTTP ${response.status}`;
    const message = typeof body?.error?.message === "string" ? body.error.message : "";
    return { code, message };
}

function parseJson(text: string): unknown {
    try {
        return JSON.parse(text) as unknown;
    } catch {
        return undefined;
    }
}
