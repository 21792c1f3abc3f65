import { Clock } from "../../power/clock";
import { AuthenticationError, TransientError } from "../../power/errors";
import { boundedCall, isTransientFailure } from "../common/boundedCall";
import { pollUntil } from "../common/pollUntil";
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
        /** What ARM asked us to wait before trying again (`Retry-After`), if it did. */
        public readonly retryAfterMs?: number,
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
    /** One request's wall-clock bound, TLS handshake included. @default the HTTP client's */
    readonly requestTimeoutMs?: number;
}

/** Tries after the first, for throttling and transient failures (bounded by the caller's call bound too). */
const maxRetries = 4;
/** The RPC allows up to 10 minutes; waiting that long inside one `pulumi up` helps no one. */
const maxRetryAfterMs = 60_000;
/** `Retry-After: 0` would otherwise turn polling into a busy loop. */
const minPollIntervalMs = 200;
const transientStatuses = [500, 502, 503, 504];

/** An answer worth another try (429, or a 5xx to a read); its response is kept for the error if tries run out. */
class RetryableAnswer extends Error {
    readonly status: number;
    readonly retryAfterMs?: number;

    constructor(
        operation: string,
        readonly response: HttpResponse,
    ) {
        super(`${operation}: ARM answered ${response.status}`);
        this.name = "RetryableAnswer";
        this.status = response.status;
        const wait = retryAfterMs(response.headers);
        if (wait !== undefined) this.retryAfterMs = Math.min(wait, maxRetryAfterMs);
    }
}

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

    /**
     * Follows an accepted operation to its end; throws ArmError on Failed/Canceled, and
     * `OperationTimedOut` when it still runs at `deadline`. Reads that fail transiently (an
     * outage, a reset) are waited out until the deadline.
     */
    async wait(pending: PendingOperation, deadline: number, signal?: AbortSignal): Promise<void> {
        if (pending.done || !pending.pollUrl) return;
        const { clock } = this.options;
        let delay = pending.retryAfterMs;
        let pollUrl = pending.pollUrl;
        // The first status read waits for Retry-After too; later ones as each answer says.
        await this.pause(delay ?? this.defaultPollIntervalMs, deadline, signal);
        if (signal?.aborted) return;
        try {
            const result = await pollUntil<"done" | "running">({
                clock,
                deadline,
                intervalMs: maxRetryAfterMs,
                pause: (left) => this.pause(Math.min(delay ?? this.defaultPollIntervalMs, left), deadline, signal),
                read: async () => {
                    if (signal?.aborted) return "done";
                    const response = await this.send(`${pending.operation} (status)`, "GET", pollUrl, signal);
                    delay = retryAfterMs(response.headers);
                    if (pending.style === "location") {
                        if (response.status === 202) {
                            // The RPC lets each 202 name the next URL to poll.
                            pollUrl = this.trackingUrl(header(response.headers, "location")) ?? pollUrl;
                            return "running";
                        }
                        if (response.status >= 200 && response.status < 300) return "done";
                        throw this.errorFrom(pending.operation, response);
                    }
                    // Azure-AsyncOperation: 200 with a status document; any other status means reading it failed.
                    if (response.status !== 200) throw this.errorFrom(`${pending.operation} (status)`, response);
                    return operationEnded(pending.operation, response) ? "done" : "running";
                },
                done: (state) => state === "done" || signal?.aborted === true,
                transient: isTransientArmFailure,
            });
            if (result.reached || signal?.aborted) return;
        } catch (e) {
            if (signal?.aborted) return;
            throw e;
        }
        throw new ArmError(pending.operation, 0, "OperationTimedOut", "the operation was still running when our deadline passed");
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

    /**
     * One request with auth, bounded in wall-clock time per try (TLS handshake included), a
     * token refresh on 401, and retries as `boundedCall` does them: 429 always (with
     * `Retry-After`), resets, stalls and 5xx for reads; a power action only when it cannot
     * have reached ARM (a refused connection, a handshake that never finished), since another
     * one might act twice.
     */
    private async send(operation: string, method: "GET" | "POST", url: URL, signal?: AbortSignal): Promise<HttpResponse> {
        if (url.origin !== this.origin) throw new Error(`refusing to send the ARM token to ${url.host}`);
        const { clock, http, log } = this.options;
        const timeoutMs = this.options.requestTimeoutMs ?? http.defaultTimeoutMs;
        for (let refreshed = false; ; refreshed = true) {
            const token = await this.options.token.get();
            let response: HttpResponse;
            let tries = 0;
            try {
                response = await boundedCall(
                    {
                        op: operation,
                        clock,
                        timeoutMs,
                        retries: maxRetries,
                        signal,
                        transient: (e) => {
                            const retry = retryable(e, method);
                            if (retry && tries <= maxRetries) log(retryMessage(operation, e, tries));
                            return retry;
                        },
                    },
                    async (trySignal) => {
                        tries++;
                        const answer = await http.send({
                            method,
                            url,
                            headers: { Authorization: `Bearer ${token}` },
                            signal: trySignal,
                            timeoutMs,
                        });
                        if (answer.status === 429 || (method === "GET" && transientStatuses.includes(answer.status))) {
                            throw new RetryableAnswer(operation, answer);
                        }
                        return answer;
                    },
                );
            } catch (e) {
                // Tries ran out on a status: the caller reads it as ARM's error (code, Retry-After).
                const answer = e instanceof RetryableAnswer ? e : e instanceof TransientError ? e.cause : undefined;
                if (answer instanceof RetryableAnswer) return answer.response;
                throw e;
            }
            if (response.status === 401 && !refreshed) {
                // The token may have expired or been revoked since we cached it: one fresh try.
                // Shared by a session's VMs: only the first refusal of this token refreshes it.
                this.options.token.invalidate(token);
                continue;
            }
            return response;
        }
    }

    private get defaultPollIntervalMs(): number {
        return this.options.defaultPollIntervalMs ?? 2_000;
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
        return new ArmError(operation, response.status, code, message, undefined, retryAfterMs(response.headers));
    }
}

/** Reads an Azure-AsyncOperation status document: true once Succeeded; throws ArmError on Failed/Canceled. */
function operationEnded(operation: string, response: HttpResponse): boolean {
    const document = parseJson(response.text) as { status?: unknown; error?: { code?: unknown; message?: unknown } } | undefined;
    const status = typeof document?.status === "string" ? document.status : "";
    if (/^succeeded$/i.test(status)) return true;
    if (/^(failed|canceled|cancelled)$/i.test(status)) {
        const code = typeof document?.error?.code === "string" ? document.error.code : "OperationFailed";
        const message = typeof document?.error?.message === "string" ? document.error.message : "";
        throw new ArmError(operation, response.status, code, message, status);
    }
    return false;
}

/** Whether one try of `method` is worth repeating (see ArmClient.send). */
function retryable(error: unknown, method: "GET" | "POST"): boolean {
    if (error instanceof RetryableAnswer) return true;
    if (error instanceof TransportError) return method === "GET" ? isTransientFailure(error) : error.unsent;
    // A try that hit its bound: a read is repeated; an action might have landed, the sequence decides.
    return method === "GET" && isTransientFailure(error);
}

/** What a status read that failed on the way tells a wait: an outage to wait out, or an answer. */
function isTransientArmFailure(error: unknown): boolean {
    if (error instanceof ArmError) return !error.operationStatus && (error.status === 429 || transientStatuses.includes(error.status));
    return error instanceof TransientError || error instanceof TransportError ? isTransientFailure(error) : false;
}

/** What the log says before another try; the wait is boundedCall's (Retry-After, else its backoff). */
function retryMessage(operation: string, error: unknown, tries: number): string {
    const backoffMs = [500, 1_000, 2_000, 4_000][Math.min(tries - 1, 3)];
    if (error instanceof RetryableAnswer) {
        const wait = `${Math.ceil((error.retryAfterMs ?? backoffMs) / 1000)}s`;
        return error.status === 429
            ? `${operation}: ARM is throttling requests (429); retrying in ${wait}${error.retryAfterMs !== undefined ? " as Retry-After asks" : ""}`
            : `${operation}: ARM answered ${error.status}; retrying in ${wait}`;
    }
    return `${operation}: ${error instanceof Error ? error.message : String(error)}; retrying`;
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
