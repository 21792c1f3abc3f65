import { TransitionProgress } from "../power/transition";
import { progressText } from "../operations/progressText";

export interface ProgressStream {
    write(text: string): void;
    readonly isTTY?: boolean;
}

/**
 * Progress on stderr while a transition runs. On a terminal, one live line rewritten in place
 * (phase, elapsed, time left before the deadline); in a CI log, one line per phase, so the log
 * stays readable.
 */
export class ProgressLine {
    private current: TransitionProgress | undefined;
    private startedAt = 0;
    private timer: NodeJS.Timeout | undefined;
    private drawn = false;

    constructor(
        private readonly stream: ProgressStream,
        private readonly now: () => number = Date.now,
        private readonly refreshMs = 200,
    ) {}

    readonly update = (progress: TransitionProgress): void => {
        if (!this.current) this.startedAt = this.now() - progress.elapsedMs;
        this.current = progress;
        if (this.stream.isTTY) {
            this.draw();
            if (!this.timer) {
                this.timer = setInterval(() => this.draw(), this.refreshMs);
                this.timer.unref();
            }
        } else {
            this.stream.write(`${this.render()}\n`);
        }
    };

    /** Clears the live line, so the summary starts on a clean line. */
    finish(): void {
        if (this.timer) clearInterval(this.timer);
        this.timer = undefined;
        if (this.drawn) this.stream.write("\r\x1b[K");
        this.drawn = false;
    }

    render(): string {
        const progress = this.current;
        if (!progress) return "";
        const now = this.now();
        return `graceful-vm: ${progressText(progress, now - this.startedAt, now)}`;
    }

    private draw(): void {
        this.stream.write(`\r\x1b[K${this.render()}`);
        this.drawn = true;
    }
}
