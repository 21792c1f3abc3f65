/**
 * Time, injected so the sequence never reads the wall clock itself and unit tests run with a
 * fake clock in milliseconds. Times are milliseconds on the clock's own scale.
 */
export interface Clock {
    now(): number;
    /** Resolves after `ms`, or early (without error) when `signal` aborts. */
    sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
    now: () => Date.now(),
    sleep: (ms, signal) =>
        new Promise<void>((resolve) => {
            if (signal?.aborted) return resolve();
            const timer = setTimeout(done, Math.max(0, ms));
            function done(): void {
                clearTimeout(timer);
                signal?.removeEventListener("abort", done);
                resolve();
            }
            signal?.addEventListener("abort", done, { once: true });
        }),
};
