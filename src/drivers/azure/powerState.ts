import { ObservedState } from "../../power/driver";
import { ObservedPowerState } from "../../power/states";

/**
 * Reads a VM instance view. The power state comes from the machine-readable `PowerState/*`
 * status code only; `displayStatus` is for people and is not part of the contract.
 */
const powerStates: Readonly<Record<string, ObservedPowerState>> = {
    running: "running",
    starting: "starting",
    stopping: "stopping",
    stopped: "stopped",
    deallocating: "deallocating",
    deallocated: "deallocated",
    unknown: "unknown",
};

interface InstanceViewStatus {
    readonly code?: unknown;
}

interface InstanceView {
    readonly statuses?: unknown;
    readonly vmAgent?: { readonly statuses?: unknown };
}

function statusCodes(statuses: unknown): string[] {
    if (!Array.isArray(statuses)) return [];
    return statuses
        .map((s: InstanceViewStatus) => (s && typeof s.code === "string" ? s.code : undefined))
        .filter((c): c is string => c !== undefined);
}

export function powerStateFromInstanceView(body: unknown): ObservedState {
    const view = (body ?? {}) as InstanceView;
    const codes = statusCodes(view.statuses);
    const power = codes.find((c) => /^PowerState\//i.test(c));
    if (!power) {
        // A VM being created, or a rare instance view without a power state: say what we saw.
        const provisioning = codes.find((c) => /^ProvisioningState\//i.test(c));
        return { state: "unknown", detail: provisioning ?? "no PowerState status in the instance view" };
    }
    const value = power.slice("PowerState/".length).toLowerCase();
    return { state: powerStates[value] ?? "unknown", detail: power };
}

/** The Azure VM agent reports `ProvisioningState/succeeded` once it is up ("Ready"). */
export function guestAgentReady(body: unknown): boolean {
    const view = (body ?? {}) as InstanceView;
    return statusCodes(view.vmAgent?.statuses).some((c) => /^ProvisioningState\/succeeded$/i.test(c));
}
