import { progressText } from "../operations/progressText";
import { TransitionProgress } from "../power/transition";

/**
 * Progress of a transition in `pulumi up`'s log: a line when a phase starts and, while a phase
 * waits (a guest taking minutes to shut down), one at least every `intervalMs`, so the update
 * never looks hung.
 */
export class ProgressLog {
    private current: TransitionProgress | undefined;
    private startedAt = 0;
    private timer: NodeJS.Timeout | undefined;

    constructor(
        private readonly log: (message: string) => void,
        private readonly intervalMs = 10_000,
        private readonly now: () => number = Date.now,
    ) {}

    readonly update = (progress: TransitionProgress): void => {
        if (!this.current) this.startedAt = this.now() - progress.elapsedMs;
        this.current = progress;
        this.write();
        if (this.timer) clearInterval(this.timer);
        this.timer = setInterval(() => this.write(), this.intervalMs);
        this.timer.unref();
    };

    stop(): void {
        if (this.timer) clearInterval(this.timer);
        this.timer = undefined;
    }

    private write(): void {
        if (!this.current) return;
        const now = this.now();
        this.log(progressText(this.current, now - this.startedAt, now));
    }
}
