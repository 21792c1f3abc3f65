import { Clock } from "./clock";
import { DriverCall, Phase, PhaseTiming } from "./report";

/** Times every driver call and phase of one transition, against the injected clock. */
export class Recorder {
    readonly calls: DriverCall[] = [];
    readonly phases: PhaseTiming[] = [];
    readonly notes: string[] = [];
    readonly startedAt: number;

    constructor(private readonly clock: Clock) {
        this.startedAt = clock.now();
    }

    elapsed(): number {
        return this.clock.now() - this.startedAt;
    }

    async call<T>(op: string, action: () => Promise<T>): Promise<T> {
        const startMs = this.elapsed();
        try {
            const result = await action();
            this.calls.push({ op, startMs, durationMs: this.elapsed() - startMs, ok: true });
            return result;
        } catch (e) {
            const error = e instanceof Error ? e.message : String(e);
            this.calls.push({ op, startMs, durationMs: this.elapsed() - startMs, ok: false, error });
            throw e;
        }
    }

    async phase<T>(phase: Phase, action: () => Promise<T>): Promise<T> {
        const startMs = this.elapsed();
        try {
            return await action();
        } finally {
            this.phases.push({ phase, startMs, durationMs: this.elapsed() - startMs });
        }
    }
}
