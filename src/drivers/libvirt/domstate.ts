import { ObservedState } from "../../power/driver";
import { ObservedPowerState } from "../../power/states";

/**
 * `virsh domstate --reason` prints `STATE (REASON)`, e.g. `shut off (shutdown)`,
 * `running (booted)`, `paused (user)`, `in shutdown (unknown)`. The reason is what tells a
 * graceful stop (`shutdown`) from a forced one (`destroyed`), so it becomes the detail.
 */
export function parseDomstate(output: string): ObservedState {
    const line =
        output
            .split("\n")
            .map((l) => l.trim())
            .find((l) => l.length > 0) ?? "";
    const match = /^(.*?)\s*(?:\(([^)]*)\))?$/.exec(line);
    const stateText = (match?.[1] ?? line).trim().toLowerCase();
    const reason = match?.[2]?.trim().toLowerCase();
    const state = mapState(stateText, reason);
    const stoppedBy = state === "stopped" ? stopCause(reason) : undefined;
    return { state, detail: reason ? `${stateText} (${reason})` : stateText || "no output", ...(stoppedBy ? { stoppedBy } : {}) };
}

/**
 * libvirt's shut-off reasons (virDomainShutoffReason): `shutdown` is the guest's own, while
 * `destroyed` (virsh destroy, by us or anyone), `crashed`, `failed`, `daemon` (libvirtd killed
 * it while reconnecting after a restart), `saved`, `migrated` and `from snapshot` are not a
 * clean stop of the guest. Only `unknown` says nothing.
 */
const notTheGuests = ["destroyed", "crashed", "failed", "daemon", "saved", "migrated", "from snapshot"];

function stopCause(reason: string | undefined): "guest" | "external" | undefined {
    if (reason === "shutdown") return "guest";
    if (reason !== undefined && notTheGuests.includes(reason)) return "external";
    return undefined;
}

function mapState(state: string, reason: string | undefined): ObservedPowerState {
    switch (state) {
        case "running":
        case "idle":
        case "blocked":
            return "running";
        case "paused":
            // Briefly paused while QEMU starts or stops: that is a transition, not a user pause.
            if (reason === "starting up") return "starting";
            if (reason === "shutting down") return "stopping";
            return "paused";
        case "in shutdown":
            return "stopping";
        case "shut off":
            return "stopped";
        case "pmsuspended":
            return "suspended";
        case "crashed":
            // QEMU is still there with a dead guest (on_crash=preserve): nothing can ask it to
            // shut down, like a paused guest; the driver destroys it before starting again.
            return "paused";
        default:
            return "unknown";
    }
}
