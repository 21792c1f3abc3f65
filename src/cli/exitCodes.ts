import { TransitionReport } from "../power/report";

/**
 * What a pipeline can branch on. A forced success is its own code: the VM is where it was asked
 * to be, but its guest did not get to shut down cleanly, which a maintenance job may want to
 * flag without failing.
 */
export const exitCodes = {
    /** Done gracefully, powered on, or nothing to do (also: `status` succeeded). */
    ok: 0,
    /** The VM could not be brought to the requested state, or the platform failed. */
    failure: 1,
    /** Bad command line, config file or target field; nothing was touched. */
    usage: 2,
    /**
     * Done, but only by a hard power-off: ours (the graceful shutdown timed out or was
     * impossible) or someone else's during our wait (`method: "externalOff"`).
     */
    forced: 3,
    /** Interrupted by SIGINT (128 + 2), after printing what happened so far. */
    interrupted: 130,
    /** Interrupted by SIGTERM (128 + 15). */
    terminated: 143,
} as const;

/**
 * 3 only when a graceful stop was asked for and the VM had to be forced; an explicit hard `off`
 * (`desired: Off`) that powered off is exactly what was asked: 0.
 */
export function exitCodeFor(report: TransitionReport): number {
    if (report.method === "externalOff") return exitCodes.forced;
    const askedGraceful = report.desired === "OffGraceful" || report.desired === "Deallocated";
    return report.method === "forced" && askedGraceful ? exitCodes.forced : exitCodes.ok;
}
