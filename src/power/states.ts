/**
 * Power states. The desired state is what the user declares; the observed state is what the
 * platform reports. They are deliberately different types: a VM observed `stopped` satisfies
 * both `Off` and `OffGraceful`, so nothing is re-issued when nothing needs doing.
 */

/** What the user asks for. */
export const desiredPowerStates = ["On", "Off", "OffGraceful", "Deallocated"] as const;
export type DesiredPowerState = (typeof desiredPowerStates)[number];

/** What the platform reports, normalised across platforms. */
export const observedPowerStates = [
    "running",
    "stopped",
    "deallocated",
    "paused",
    "suspended",
    "starting",
    "stopping",
    "deallocating",
    "unknown",
] as const;
export type ObservedPowerState = (typeof observedPowerStates)[number];

/** What to do to a VM when the resource that manages its power is destroyed. */
export const shutdownOnDestroyPolicies = ["graceful", "hard", "none"] as const;
export type ShutdownOnDestroyPolicy = (typeof shutdownOnDestroyPolicies)[number];

export function isDesiredPowerState(value: unknown): value is DesiredPowerState {
    return typeof value === "string" && (desiredPowerStates as readonly string[]).includes(value);
}

/** Observed states in which the desired state is already reached. */
export function satisfyingStates(desired: DesiredPowerState): readonly ObservedPowerState[] {
    switch (desired) {
        case "On":
            return ["running"];
        case "Off":
        case "OffGraceful":
            return ["stopped", "deallocated"];
        case "Deallocated":
            return ["deallocated"];
    }
}

export function isSatisfied(desired: DesiredPowerState, observed: ObservedPowerState): boolean {
    return satisfyingStates(desired).includes(observed);
}

/** States that are on their way somewhere: wait for them instead of issuing a new request. */
export function isTransitional(state: ObservedPowerState): boolean {
    return state === "starting" || state === "stopping" || state === "deallocating";
}

/** States in which the guest OS is not executing, so it cannot answer a shutdown request. */
export function isGuestFrozen(state: ObservedPowerState): boolean {
    return state === "paused" || state === "suspended";
}

export function isOff(state: ObservedPowerState): boolean {
    return state === "stopped" || state === "deallocated";
}
