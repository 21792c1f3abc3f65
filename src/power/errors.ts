/** An input that is wrong before anything touches a VM. `field` names it as the user wrote it. */
export class InputError extends Error {
    constructor(
        public readonly field: string,
        public readonly reason: string,
        options?: ErrorOptions,
    ) {
        super(`${field}: ${reason}`, options);
        this.name = "InputError";
    }
}

/** Several input errors at once, so a user fixes them in one go. */
export class InputErrors extends Error {
    constructor(public readonly errors: readonly InputError[]) {
        super(errors.map((e) => e.message).join("\n"));
        this.name = "InputErrors";
    }
}

/** Runs each check and gathers every InputError instead of stopping at the first. */
export function collectInputErrors(checks: ReadonlyArray<() => void>): InputError[] {
    const errors: InputError[] = [];
    for (const check of checks) {
        try {
            check();
        } catch (e) {
            if (e instanceof InputErrors) errors.push(...e.errors);
            else if (e instanceof InputError) errors.push(e);
            else throw e;
        }
    }
    return errors;
}

export function throwIfAny(errors: readonly InputError[]): void {
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new InputErrors(errors);
}

/** The VM named by the target does not exist (deleted, wrong name). */
export class VmNotFoundError extends Error {
    constructor(vm: string, detail?: string) {
        super(`VM ${vm} was not found${detail ? `: ${detail}` : ""}`);
        this.name = "VmNotFoundError";
    }
}

/** Credentials were refused. Never retried: retrying a wrong password locks accounts. */
export class AuthenticationError extends Error {
    constructor(message: string, options?: ErrorOptions) {
        super(message, options);
        this.name = "AuthenticationError";
    }
}

/**
 * Thrown by a driver's graceful request when a graceful shutdown is impossible (no guest
 * tools, agent not connected, the platform refused). The sequence then falls back to a hard
 * power-off at once, or fails if the caller forbade forcing.
 */
export class GracefulShutdownUnavailableError extends Error {
    constructor(
        public readonly reason: FallbackReason,
        message: string,
    ) {
        super(message);
        this.name = "GracefulShutdownUnavailableError";
    }
}

/** Why a graceful shutdown ended in a hard power-off. */
export type FallbackReason = "timeout" | "toolsUnavailable" | "gracefulRequestFailed" | "guestFrozen";

/**
 * A failure worth trying again within the deadline: a reset connection, a call that ran out of
 * its time, a 5xx or 429, a task already in progress. Drivers wrap such failures in it (the
 * original as `cause`); the sequence retries requests and waits on it until its deadline
 * instead of falling back or failing at once.
 */
export class TransientError extends Error {
    constructor(
        message: string,
        options?: ErrorOptions & {
            /** How long the platform asked us to wait (`Retry-After`), in ms. */
            readonly retryAfterMs?: number;
        },
    ) {
        super(message, options);
        this.name = "TransientError";
        this.retryAfterMs = options?.retryAfterMs;
    }
    readonly retryAfterMs: number | undefined;
}

/** A call that did not answer within its wall-clock bound (the endpoint may be frozen). */
export class CallTimeoutError extends TransientError {
    constructor(
        public readonly op: string,
        public readonly timeoutMs: number,
    ) {
        super(`${op} did not answer within ${timeoutMs} ms`);
        this.name = "CallTimeoutError";
    }
}

/** The run was stopped from outside (SIGINT, SIGTERM) before it finished. */
export class InterruptedError extends Error {
    constructor(reason: string) {
        super(`interrupted: ${reason}`);
        this.name = "InterruptedError";
    }
}

/** Whether an error is worth retrying within the deadline. */
export function isTransient(error: unknown): error is TransientError {
    return error instanceof TransientError;
}

/** The sequence could not bring the VM to the desired state. Carries the partial report. */
export class PowerTransitionError extends Error {
    constructor(
        message: string,
        public readonly report: unknown,
        options?: ErrorOptions,
    ) {
        super(message, options);
        this.name = "PowerTransitionError";
    }
}
