import { Phase } from "../power/report";
import { TransitionProgress } from "../power/transition";

/**
 * How a phase reads to a person, shared by the CLI's progress line and the provider's log in
 * `pulumi up`, so both say the same thing.
 */
export const phaseText: Record<Phase, string> = {
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

/** `waiting for the guest to shut down (12.3s elapsed, 17.7s left)`. */
export function progressText(progress: TransitionProgress, elapsedMs: number, now: number): string {
    const left = progress.deadline !== undefined ? `, ${seconds(Math.max(0, progress.deadline - now))} left` : "";
    return `${phaseText[progress.phase]} (${seconds(elapsedMs)} elapsed${left})`;
}

function seconds(ms: number): string {
    return `${(ms / 1000).toFixed(1)}s`;
}
