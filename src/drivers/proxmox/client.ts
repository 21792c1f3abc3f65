import { Clock, systemClock } from "../../power/clock";
import { CallTimeoutError } from "../../power/errors";
import { CallAttempt, boundedCall } from "../common/boundedCall";
import { ProxmoxConnection, ProxmoxConnectionOptions } from "./connection";
import { ProxmoxApiError, ProxmoxUnreachableError } from "./errors";

/** A client of its own: one VM's connection, opened and closed with it. */
export interface ProxmoxClientOptions extends ProxmoxConnectionOptions, ProxmoxCallOptions {}

/** How one VM's calls are made, whether over its own connection or a shared one. */
export interface ProxmoxCallOptions {
    /**
     * The wall-clock bound of one try, connecting and the TLS handshake included. PVE delays a
     * refused token by 3 s on purpose, so keep this well above that. @default 30000
     */
    readonly requestTimeoutMs?: number;
    /** Tries after the first for a failure that is worth another (see {@link retryable}). @default 2 */
    readonly retries?: number;
    /** Waits between tries. @default systemClock */
    readonly clock?: Clock;
    /** Where tries that failed before one succeeded (or all failed) are told. */
    readonly log?: (message: string) => void;
}

/** Parameters of a POST: form-encoded, with booleans as `1`/`0` (PVE rejects `true`). */
export type FormParameters = Readonly<Record<string, string | number | boolean | undefined>>;

const defaultRequestTimeoutMs = 30_000;

/**
 * A typed, minimal client for the PVE JSON API (`/api2/json`) with API-token auth, for one VM.
 * Every call goes through `boundedCall`: each try is bounded in wall-clock time (the TLS
 * handshake and waiting for a free socket included), and a failure that left the request
 * unprocessed (a refused connection, a 429/503 answer, a reset on a kept-alive socket; for
 * reads also a reset or a 502/504) is tried again, after `Retry-After` when the server sent one.
 * A try that timed out is not repeated here: the sequence's own bound and polling decide.
 *
 * Over a shared connection (a fleet's session), close() ends only this VM's requests.
 */
export class ProxmoxClient {
    /** Requests this VM sent, retries included, for reports and benchmarks. */
    requestCount = 0;
    private readonly timeoutMs: number;
    private readonly retries: number;
    private readonly clock: Clock;
    private readonly log: (message: string) => void;
    /** Aborts this client's requests in flight when it closes. */
    private readonly closing = new AbortController();

    constructor(
        readonly connection: ProxmoxConnection,
        options: ProxmoxCallOptions = {},
        /** Whether close() closes the connection too (it is this VM's own). */
        private readonly ownsConnection = false,
    ) {
        this.timeoutMs = options.requestTimeoutMs ?? defaultRequestTimeoutMs;
        this.retries = options.retries ?? 2;
        this.clock = options.clock ?? systemClock;
        this.log = options.log ?? (() => undefined);
    }

    /** A client with a connection of its own, which its close() closes. */
    static connect(options: ProxmoxClientOptions): ProxmoxClient {
        const timeoutMs = options.requestTimeoutMs ?? defaultRequestTimeoutMs;
        return new ProxmoxClient(new ProxmoxConnection({ handshakeTimeoutMs: timeoutMs, ...options }), options, true);
    }

    get endpoint(): string {
        return this.connection.endpoint;
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

    /** Ends this client's requests in flight; closes the connection only if it is its own. Safe to call twice. */
    close(): void {
        this.closing.abort(new ProxmoxUnreachableError(this.connection.endpoint, "the driver closed before the answer came"));
        if (this.ownsConnection) this.connection.close();
    }

    private async request<T>(method: string, path: string, body?: string): Promise<T> {
        const op = `${method} ${path.split("?")[0]}`;
        const attempts: CallAttempt[] = [];
        try {
            return await boundedCall(
                {
                    op,
                    clock: this.clock,
                    timeoutMs: this.timeoutMs,
                    retries: this.retries,
                    transient: method === "GET" ? retryableRead : retryableWrite,
                    attempts,
                    signal: this.closing.signal,
                },
                (signal) => {
                    this.requestCount++;
                    return this.connection.send<T>(method, path, body, signal);
                },
            );
        } catch (e) {
            if (e instanceof CallTimeoutError) {
                throw new ProxmoxUnreachableError(this.connection.endpoint, `no answer to ${op} within ${this.timeoutMs} ms`);
            }
            if (this.closing.signal.aborted) throw this.closing.signal.reason;
            throw e;
        } finally {
            if (attempts.length > 1) this.log(describeAttempts(this.connection.endpoint, attempts));
        }
    }
}

/** Statuses that mean "not now" without anything done: busy (429), unavailable (503). */
const refusedStatuses = [429, 503];
/** Gateways in front of pveproxy may also have lost the answer of a read: 502, 504. */
const readRetryStatuses = [429, 502, 503, 504];

/**
 * A read is sent again after any network failure but a timeout, and after a 429/502/503/504.
 * Not after a 500 (PVE's handler errors last: "does not exist", "hostname lookup failed") or
 * a 595/596 (a node down: the driver looks for the VM elsewhere).
 */
function retryableRead(error: unknown): boolean {
    if (error instanceof CallTimeoutError) return false;
    if (error instanceof ProxmoxUnreachableError) return error.code !== undefined && error.code !== "";
    return error instanceof ProxmoxApiError && readRetryStatuses.includes(error.status);
}

/**
 * A POST or DELETE only when it cannot have been carried out: the connection was refused, a
 * kept-alive socket turned out closed before the request reached the server, or the server
 * answered 429/503 (no task was forked). A reset after the request was sent may have started
 * a task: the driver reads the state again rather than asking twice.
 */
function retryableWrite(error: unknown): boolean {
    if (error instanceof CallTimeoutError) return false;
    if (error instanceof ProxmoxUnreachableError) {
        return error.code === "ECONNREFUSED" || (error.reusedSocket && (error.code === "ECONNRESET" || error.code === "EPIPE"));
    }
    return error instanceof ProxmoxApiError && refusedStatuses.includes(error.status);
}

function describeAttempts(endpoint: string, attempts: readonly CallAttempt[]): string {
    const last = attempts[attempts.length - 1];
    const failed = attempts
        .filter((a) => !a.ok)
        .map((a) => `try ${a.attempt}: ${a.error ?? "failed"}${a.retryAfterMs !== undefined ? ` (Retry-After ${a.retryAfterMs} ms)` : ""}`);
    return `Proxmox VE ${endpoint} ${last.op}: ${last.ok ? `answered on try ${last.attempt}` : `failed ${attempts.length} tries`} (${failed.join("; ")})`;
}

function encodeForm(parameters: FormParameters): string {
    const form = new URLSearchParams();
    for (const [key, value] of Object.entries(parameters)) {
        if (value === undefined) continue;
        form.append(key, typeof value === "boolean" ? (value ? "1" : "0") : String(value));
    }
    return form.toString();
}
