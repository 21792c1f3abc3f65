import { loadDriverFactory, platformSpec } from "../drivers/registry";
import { Clock, systemClock } from "../power/clock";
import { Driver } from "../power/driver";
import { parseDuration } from "../power/duration";
import { PowerTransitionError } from "../power/errors";
import { TransitionReport } from "../power/report";
import { DesiredPowerState } from "../power/states";
import { TransitionRequest, runTransition } from "../power/transition";
import { VmPowerInputs } from "./inputs";
import { Redactor, secretValues } from "../drivers/common/redact";
import { SessionPool } from "./sessions";

/**
 * Opening a driver and running the sequence, shared by the Pulumi provider and the CLI so both
 * behave the same. Every error leaving here is scrubbed of credentials.
 */
export interface OperationContext {
    readonly clock?: Clock;
    readonly log?: (message: string) => void;
    readonly onProgress?: TransitionRequest["onProgress"];
    /** Aborting ends the run at once with the report so far (the CLI on SIGINT/SIGTERM). */
    readonly signal?: AbortSignal;
    /** @default 120000 */
    readonly verifyTimeoutMs?: number;
    /** The wall-clock bound of one platform call. @default 20000 */
    readonly callTimeoutMs?: number;
    /** How long the clean-up (logout, closing connections) may hold up the result. @default cleanupBoundMs */
    readonly cleanupTimeoutMs?: number;
    /**
     * The run's shared connections (a fleet): the driver uses its endpoint's session instead
     * of opening its own. @default each VM connects on its own
     */
    readonly sessions?: SessionPool;
}

/**
 * The stated clean-up bound: after the result is known, closing the driver (logout, sockets,
 * watchers) may add at most this much; whatever is left goes on in the background.
 */
export const cleanupBoundMs = 5_000;

export async function withDriver<T>(
    inputs: VmPowerInputs,
    context: OperationContext,
    use: (driver: Driver, redactor: Redactor) => Promise<T>,
): Promise<T> {
    // Tokens and session cookies the driver obtains are added as it gets them.
    const redactor = new Redactor(secretValues(inputs.credentials));
    const log = (message: string): void => context.log?.(redactor.scrub(message));
    const stopSharing = context.sessions?.shareSecrets((secret) => redactor.add(secret));
    try {
        const spec = platformSpec(inputs.platform, "target");
        const target = spec.parseTarget(inputs.target, `target.${inputs.platform}`);
        const credentials = spec.parseCredentials(inputs.credentials, `target.${inputs.platform}`);
        const createDriver = loadDriverFactory(spec.name);
        const session = await context.sessions?.sessionFor(spec.name, target, credentials);
        const driverClock = stoppableClock(context.clock ?? systemClock);
        const driver = await createDriver(target, credentials, {
            clock: driverClock.clock,
            log,
            registerSecret: (value) => redactor.add(value),
            session,
            callTimeoutMs: context.callTimeoutMs,
        });
        try {
            return redactor.scrubValue(await use(driver, redactor));
        } finally {
            // A call the sequence abandoned (frozen endpoint, interrupted run) must not go on
            // polling: its next sleep never ends.
            driverClock.stop();
            await closeWithin(
                () => driver.close(),
                context.cleanupTimeoutMs ?? cleanupBoundMs,
                (e) => log(`closing the ${inputs.platform} connection failed: ${e instanceof Error ? e.message : String(e)}`),
            );
        }
    } catch (e) {
        throw scrub(e, redactor);
    } finally {
        stopSharing?.();
    }
}

/** Runs the sequence towards `desired` with the inputs' timeouts and policy. */
export function transition(inputs: VmPowerInputs, desired: DesiredPowerState, context: OperationContext = {}): Promise<TransitionReport> {
    return withDriver(inputs, context, async (driver, redactor) => {
        const report = await runTransition(driver, context.clock ?? systemClock, {
            desired,
            gracefulTimeoutMs: parseDuration(inputs.gracefulShutdownTimeout, "gracefulShutdownTimeout"),
            force: inputs.forceAfterTimeout,
            stopBeforeDeallocate: inputs.stopBeforeDeallocate,
            waitForGuestAgent: inputs.waitForGuestAgent,
            onProgress: context.onProgress,
            signal: context.signal,
            verifyTimeoutMs: context.verifyTimeoutMs,
            callTimeoutMs: context.callTimeoutMs,
        });
        // The report lands in plaintext state: no credential may ride along in an error text.
        return redactor.scrubValue(report);
    });
}

/** The driver's clock; after stop(), sleeps never resolve and hold no timer. */
function stoppableClock(clock: Clock): { clock: Clock; stop(): void } {
    const stopped = new AbortController();
    const never = new Promise<void>(() => undefined);
    return {
        clock: {
            now: () => clock.now(),
            sleep: async (ms, signal) => {
                if (stopped.signal.aborted) return never;
                const both = signal ? AbortSignal.any([signal, stopped.signal]) : stopped.signal;
                await clock.sleep(ms, both);
                if (stopped.signal.aborted) return never;
            },
        },
        stop: () => stopped.abort(),
    };
}

/** Closes a fleet run's sessions (logouts), holding up its result at most `capMs`. */
export function closeSessionsWithin(sessions: SessionPool, capMs: number, log?: (message: string) => void): Promise<void> {
    const onError = (e: unknown): void => log?.(`closing a shared session failed: ${e instanceof Error ? e.message : String(e)}`);
    return closeWithin(() => sessions.close(onError), capMs, onError);
}

/** Runs `close`, waiting at most `capMs`; a close still running then finishes in the background. */
async function closeWithin(close: () => Promise<void>, capMs: number, onError: (e: unknown) => void): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const capped = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
            onError(new Error(`clean-up still running after ${capMs} ms; left to finish in the background`));
            resolve();
        }, capMs);
        timer.unref();
    });
    const closing = close().catch(onError);
    await Promise.race([closing, capped]);
    clearTimeout(timer);
}

function scrub(error: unknown, redactor: Redactor): Error {
    if (error instanceof PowerTransitionError) {
        // The cause says why (an InterruptedError for the CLI's exit code); scrubbed like the rest.
        return new PowerTransitionError(redactor.scrub(error.message), redactor.scrubValue(error.report as TransitionReport), {
            cause: error.cause === undefined ? undefined : redactor.scrubError(error.cause),
        });
    }
    return redactor.scrubError(error);
}
