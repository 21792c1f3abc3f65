import { TransitionProgress } from "../power/transition";
import { Phase } from "../power/report";

const phaseText: Record<Phase, string> = {
    read: "reading the power state",
    settle: "waiting for a transition in progress",
    toolsCheck: "checking the guest agent/tools",
    gracefulRequest: "asking the guest to shut down",
    gracefulWait: "waiting for the guest to shut down",
    hardPowerOff: "powering off hard",
    powerOn: "powering on",
    agentWait: "waiting for the guest agent",
    deallocate: "deallocating",
    verify: "verifying the new state",
};

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
        const elapsed = seconds(now - this.startedAt);
        const left = progress.deadline !== undefined ? `, ${seconds(Math.max(0, progress.deadline - now))} left` : "";
        return `graceful-vm: ${phaseText[progress.phase]} (${elapsed} elapsed${left})`;
    }

    private draw(): void {
        this.stream.write(`\r\x1b[K${this.render()}`);
        this.drawn = true;
    }
}

function seconds(ms: number): string {
    return `${(ms / 1000).toFixed(1)}s`;
}
