import { Clock } from "../../power/clock";
import { CallTimeoutError, TransientError, isTransient } from "../../power/errors";

/** One try of a bounded call, for the report. */
export interface CallAttempt {
    readonly op: string;
    readonly attempt: number;
    /** Clock time the try started. */
    readonly at: number;
    readonly durationMs: number;
    readonly ok: boolean;
    readonly error?: string;
    /** What the platform asked us to wait before the next try. */
    readonly retryAfterMs?: number;
}

export interface BoundedCallOptions {
    /** Names the call in errors and attempts (`POST status/shutdown`). */
    readonly op: string;
    readonly clock: Clock;
    /**
     * The wall-clock bound of one try, connection and TLS handshake included: at this point
     * the try's signal aborts (closing its socket) and the call stops waiting for it anyway.
     */
    readonly timeoutMs: number;
    /** Tries after the first, for transient failures. @default 2 */
    readonly retries?: number;
    /** No retry starts after this clock time. */
    readonly deadline?: number;
    /** Which failures are worth another try. @default isTransientFailure */
    readonly transient?: (error: unknown) => boolean;
    /** Every try is appended here (the driver's call log, which reaches the report). */
    readonly attempts?: CallAttempt[];
    /** Ends the call early (the driver is closing). */
    readonly signal?: AbortSignal;
}

/** Waits between tries when the platform named no Retry-After. */
const backoffMs = [500, 1_000, 2_000, 4_000];
/** A Retry-After longer than this is not waited for within one call; the caller decides. */
const maxRetryAfterMs = 30_000;

/**
 * The one way drivers call a platform: every try bounded in wall-clock time, transient
 * failures (resets, refused connections, timeouts, 429/5xx, a platform's "busy") retried with
 * `Retry-After` honoured while the deadline allows, and each try recorded. A failure left after
 * the tries is rethrown as a TransientError (with the original as cause) when it was transient,
 * so the sequence can keep trying within its own deadline.
 */
export async function boundedCall<T>(options: BoundedCallOptions, action: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const { clock, op } = options;
    const transient = options.transient ?? isTransientFailure;
    const retries = options.retries ?? 2;
    for (let attempt = 1; ; attempt++) {
        const at = clock.now();
        const started = Date.now();
        try {
            const value = await tryOnce(op, options.timeoutMs, action, options.signal);
            options.attempts?.push({ op, attempt, at, durationMs: Date.now() - started, ok: true });
            return value;
        } catch (e) {
            const retryAfterMs = retryAfterOf(e);
            const message = e instanceof Error ? e.message : String(e);
            options.attempts?.push({
                op,
                attempt,
                at,
                durationMs: Date.now() - started,
                ok: false,
                error: message,
                ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
            });
            if (!transient(e) || options.signal?.aborted) throw e;
            const delay = Math.min(retryAfterMs ?? backoffMs[Math.min(attempt - 1, backoffMs.length - 1)], maxRetryAfterMs);
            const noTimeLeft = options.deadline !== undefined && clock.now() + delay >= options.deadline;
            if (attempt > retries || noTimeLeft) throw asTransient(e, retryAfterMs);
            await clock.sleep(delay, options.signal);
        }
    }
}

function tryOnce<T>(op: string, timeoutMs: number, action: (signal: AbortSignal) => Promise<T>, outer?: AbortSignal): Promise<T> {
    const controller = new AbortController();
    const onOuter = (): void => controller.abort(outer?.reason);
    outer?.addEventListener("abort", onOuter, { once: true });
    return new Promise<T>((resolve, reject) => {
        let done = false;
        const finish = (settle: () => void): void => {
            if (done) return;
            done = true;
            clearTimeout(timer);
            outer?.removeEventListener("abort", onOuter);
            settle();
        };
        const timer = setTimeout(() => {
            const error = new CallTimeoutError(op, timeoutMs);
            controller.abort(error);
            finish(() => reject(error));
        }, timeoutMs);
        timer.unref?.();
        action(controller.signal).then(
            (value) => finish(() => resolve(value)),
            (e: unknown) => finish(() => reject(controller.signal.reason instanceof CallTimeoutError ? controller.signal.reason : e)),
        );
    });
}

/** Network errors after which the same request may well work. */
export const transientNetworkCodes: ReadonlySet<string> = new Set([
    "ECONNRESET",
    "ECONNREFUSED",
    "ECONNABORTED",
    "EPIPE",
    "ETIMEDOUT",
    "EHOSTUNREACH",
    "ENETUNREACH",
    "EAI_AGAIN",
    "UND_ERR_SOCKET",
    "UND_ERR_CONNECT_TIMEOUT",
]);
const transientStatuses = new Set([408, 429, 500, 502, 503, 504]);

/**
 * Whether a failure is worth another try: already a TransientError, a network error code, or
 * an HTTP status (on `status` or `statusCode`) of 408, 429 or 5xx-but-not-501.
 */
export function isTransientFailure(error: unknown): boolean {
    if (isTransient(error)) return true;
    if (!(error instanceof Error)) return false;
    const code = (error as { code?: unknown }).code;
    if (typeof code === "string" && transientNetworkCodes.has(code)) return true;
    const status = (error as { status?: unknown }).status ?? (error as { statusCode?: unknown }).statusCode;
    if (typeof status === "number" && transientStatuses.has(status)) return true;
    if (/socket hang up|ECONNRESET|ECONNREFUSED|EPIPE/.test(error.message)) return true;
    return error.cause !== undefined && error.cause !== error && isTransientFailure(error.cause);
}

/** `Retry-After` in ms from an error that carries it (`retryAfterMs`), if any. */
function retryAfterOf(error: unknown): number | undefined {
    const value = (error as { retryAfterMs?: unknown } | undefined)?.retryAfterMs;
    return typeof value === "number" && value >= 0 ? value : undefined;
}

/** Parses a `Retry-After` header (seconds or an HTTP date) into ms. */
export function parseRetryAfter(header: string | undefined, now: number = Date.now()): number | undefined {
    if (header === undefined || header.trim() === "") return undefined;
    const seconds = Number(header);
    if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
    const date = Date.parse(header);
    return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function asTransient(error: unknown, retryAfterMs: number | undefined): TransientError {
    if (error instanceof TransientError) return error;
    const message = error instanceof Error ? error.message : String(error);
    return new TransientError(message, { cause: error, retryAfterMs });
}
