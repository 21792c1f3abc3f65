import { Clock } from "../../power/clock";
import { isTransient } from "../../power/errors";

/** How one poll-until ended. */
export interface PollResult<T> {
    /** The last value read (the one that satisfied `done`, or the latest at the deadline). */
    readonly value: T;
    /** Whether `done` was met; false means the deadline passed first. */
    readonly reached: boolean;
    readonly rounds: number;
    /** Transient read failures waited out on the way (a restarting endpoint). */
    readonly failures: readonly string[];
}

export interface PollOptions<T> {
    readonly clock: Clock;
    /** Clock time when polling gives up and returns the latest value. */
    readonly deadline: number;
    /** Time between reads. */
    readonly intervalMs: number;
    readonly read: () => Promise<T>;
    readonly done: (value: T) => boolean;
    /**
     * Waits between reads; drivers with events pass one that wakes early on an event.
     * @default clock.sleep
     */
    readonly pause?: (ms: number) => Promise<unknown>;
    /** Which read failures to wait out until the deadline. @default isTransient */
    readonly transient?: (error: unknown) => boolean;
}

/**
 * The one waiting loop every driver uses: reads until `done` or the deadline, and never throws
 * because of the deadline (the driver contract: a wait resolves with the latest state). A
 * transient failure (connection reset, endpoint restarting) is waited out; a read failure that
 * is not transient, or a deadline reached without any successful read, throws.
 */
export async function pollUntil<T>(options: PollOptions<T>): Promise<PollResult<T>> {
    const { clock, deadline, intervalMs } = options;
    const transient = options.transient ?? isTransient;
    const pause = options.pause ?? ((ms: number) => clock.sleep(ms));
    const failures: string[] = [];
    let last: { value: T } | undefined;
    for (let rounds = 1; ; rounds++) {
        try {
            const value = await options.read();
            last = { value };
            if (options.done(value)) return { value, reached: true, rounds, failures };
        } catch (e) {
            if (!transient(e)) throw e;
            failures.push(e instanceof Error ? e.message : String(e));
            if (clock.now() >= deadline && !last) throw e;
        }
        const left = deadline - clock.now();
        if (left <= 0) {
            // `last` is set: a deadline with no value at all rethrew above.
            return { value: (last as { value: T }).value, reached: false, rounds, failures };
        }
        await pause(Math.max(0, Math.min(intervalMs, left)));
    }
}
