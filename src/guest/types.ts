// STUB: the guest-side work replaces this with the real hook kinds.
/** One step run inside the guest before its services get SIGTERM. */
export interface PreStopHook {
    readonly name: string;
    readonly [field: string]: unknown;
}
