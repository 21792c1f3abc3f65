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
    /** Done, but only by a hard power-off (the graceful shutdown timed out or was impossible). */
    forced: 3,
} as const;

export function exitCodeFor(report: TransitionReport): number {
    return report.method === "forced" ? exitCodes.forced : exitCodes.ok;
}
