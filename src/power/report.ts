import { FallbackReason } from "./errors";
import { DesiredPowerState, ObservedPowerState } from "./states";

/**
 * How the VM reached (or failed to reach) the desired state. `externalOff`: it went off during
 * our graceful wait because someone else powered it off hard (the platform says so), which is
 * neither a clean guest shutdown nor our own fallback.
 */
export type TransitionMethod = "none" | "graceful" | "forced" | "externalOff" | "powerOn" | "deallocate";

export type Phase =
    | "read"
    | "settle"
    | "toolsCheck"
    | "gracefulRequest"
    | "gracefulWait"
    | "hardPowerOff"
    | "powerOn"
    | "agentWait"
    | "deallocate"
    | "verify";

export interface PhaseTiming {
    readonly phase: Phase;
    /** Milliseconds after the transition started. */
    readonly startMs: number;
    readonly durationMs: number;
}

export interface DriverCall {
    readonly op: string;
    readonly startMs: number;
    readonly durationMs: number;
    readonly ok: boolean;
    readonly error?: string;
}

/** What one run of the sequence did. Plain JSON: it is stored in Pulumi state as is. */
export interface TransitionReport {
    readonly platform: string;
    readonly vm: string;
    readonly desired: DesiredPowerState;
    readonly from: ObservedPowerState;
    readonly to: ObservedPowerState;
    readonly method: TransitionMethod;
    /** How the guest was asked (`acpi`, `vmware-tools`, ...), when it was. */
    readonly gracefulMethod?: string;
    /** What the guest tools check said, when there was one. */
    readonly guestTools?: string;
    readonly fallbackReason?: FallbackReason;
    readonly fallbackDetail?: string;
    /** The platform's last word on the final state (libvirt `shutdown` vs `destroyed`). */
    readonly stateDetail?: string;
    readonly gracefulTimeoutMs: number;
    readonly startedAt: string;
    readonly durationMs: number;
    readonly phases: readonly PhaseTiming[];
    readonly calls: readonly DriverCall[];
    readonly notes: readonly string[];
    /** The first failed call of the run, verbatim (also when it was retried and the run went on). */
    readonly firstError?: string;
    /** How many times the graceful request was sent (repeats while the guest showed no sign of stopping, retries). */
    readonly gracefulAttempts?: number;
}

/** One line for humans: `OffGraceful: running -> stopped, forced after 2m (timeout)`. */
export function summarizeReport(report: TransitionReport): string {
    const seconds = (report.durationMs / 1000).toFixed(1);
    const base = `${report.vm}: ${report.from} -> ${report.to} (${report.desired}) by ${report.method}`;
    const how = report.gracefulMethod ? ` via ${report.gracefulMethod}` : "";
    const why = report.fallbackReason
        ? `; fell back because ${report.fallbackReason}${report.fallbackDetail ? ` (${report.fallbackDetail})` : ""}`
        : "";
    return `${base}${how} in ${seconds}s${why}`;
}
