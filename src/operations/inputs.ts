import { PlatformName } from "../drivers/platform";
import { unknownKeyError } from "../drivers/fields";
import { isPlatformName, platformSpec } from "../drivers/registry";
import { Duration, parseDuration } from "../power/duration";
import { InputError, InputErrors, collectInputErrors } from "../power/errors";
import { TransitionReport } from "../power/report";
import {
    DesiredPowerState,
    ObservedPowerState,
    ShutdownOnDestroyPolicy,
    desiredPowerStates,
    isDesiredPowerState,
    shutdownOnDestroyPolicies,
} from "../power/states";

/** The VmPower resource's inputs, as stored in state. `credentials` is always a secret. */
export interface VmPowerInputs {
    readonly platform: PlatformName;
    /** The platform's non-secret target (URI, VM name, node, ...). */
    readonly target: Record<string, unknown>;
    /** The platform's secret fields (passwords, tokens). */
    readonly credentials?: Record<string, unknown>;
    readonly powerState: DesiredPowerState;
    readonly gracefulShutdownTimeout: Duration;
    readonly forceAfterTimeout: boolean;
    readonly shutdownOnDestroy: ShutdownOnDestroyPolicy;
    readonly stopBeforeDeallocate: "graceful" | "hard";
    readonly waitForGuestAgent: boolean;
    /**
     * The id of the VM's own resource when it is in the same program: a new id (or one not known
     * yet) means a different VM, so the power resource is replaced with it, shutting the old VM
     * down first.
     */
    readonly vmResourceId?: string;
    /** Any value; when it changes (and `powerState` is `On`), the VM is restarted gracefully. */
    readonly restartTrigger?: unknown;
}

export interface VmPowerOutputs extends VmPowerInputs {
    readonly observedPowerState: ObservedPowerState;
    readonly observedStateDetail?: string;
    readonly lastTransition?: TransitionReport;
}

/** The arguments that say how power is held and changed (everything but the VM itself). */
export const powerPolicyKeys = [
    "powerState",
    "gracefulShutdownTimeout",
    "forceAfterTimeout",
    "shutdownOnDestroy",
    "stopBeforeDeallocate",
    "waitForGuestAgent",
] as const;

export const inputDefaults: { readonly [K in (typeof powerPolicyKeys)[number]]: VmPowerInputs[K] } = {
    powerState: "On",
    gracefulShutdownTimeout: "60s",
    forceAfterTimeout: true,
    shutdownOnDestroy: "graceful",
    stopBeforeDeallocate: "graceful",
    waitForGuestAgent: false,
};

/** The string the engine sends for a value not known yet (preview). */
export const unknownValue = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

export function containsUnknown(value: unknown): boolean {
    if (value === unknownValue) return true;
    if (Array.isArray(value)) return value.some(containsUnknown);
    if (value && typeof value === "object") return Object.values(value).some(containsUnknown);
    return false;
}

const knownKeys: readonly string[] = ["platform", "target", "credentials", "vmResourceId", "restartTrigger", ...powerPolicyKeys];

/**
 * Validates raw inputs (from Check, the component or the CLI), fills defaults and returns them,
 * or every problem at once, each naming its field. Values not known yet (preview) are left
 * unchecked. Secrets are never quoted back.
 */
export function validateInputs(raw: Record<string, unknown>): { inputs: VmPowerInputs; errors: InputError[] } {
    const errors: InputError[] = [];
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
        return {
            inputs: raw as unknown as VmPowerInputs,
            errors: [new InputError("inputs", "are required: an object with platform and target")],
        };
    }
    const attempt = (check: () => void): void => {
        errors.push(...collectInputErrors([check]));
    };
    const merged: Record<string, unknown> = { ...inputDefaults };
    for (const [key, value] of Object.entries(raw)) {
        if (value !== undefined && value !== null && !key.startsWith("__")) merged[key] = value;
    }
    for (const key of Object.keys(merged)) {
        if (!knownKeys.includes(key)) errors.push(unknownKeyError(key, key, knownKeys));
    }
    const known = (key: string): boolean => !containsUnknown(merged[key]);

    const platform = merged.platform;
    if (known("platform")) attempt(() => platformSpec(platform, "platform"));
    if (isPlatformName(platform)) {
        const spec = platformSpec(platform);
        if (known("target")) attempt(() => spec.parseTarget(merged.target, `target.${platform}`));
        if (known("credentials")) attempt(() => spec.parseCredentials(merged.credentials, `target.${platform}`));
        if (merged.powerState === "Deallocated" && !spec.supportsDeallocate) {
            errors.push(
                new InputError("powerState", `"Deallocated" is only supported on Azure; ${platform} VMs can be "Off" or "OffGraceful"`),
            );
        }
    }
    if (known("powerState") && !isDesiredPowerState(merged.powerState)) {
        errors.push(
            new InputError("powerState", `must be one of ${desiredPowerStates.join(", ")}; got ${JSON.stringify(merged.powerState)}`),
        );
    }
    if (known("gracefulShutdownTimeout")) attempt(() => parseDuration(merged.gracefulShutdownTimeout, "gracefulShutdownTimeout"));
    if (known("shutdownOnDestroy") && !(shutdownOnDestroyPolicies as readonly unknown[]).includes(merged.shutdownOnDestroy)) {
        errors.push(
            new InputError(
                "shutdownOnDestroy",
                `must be one of ${shutdownOnDestroyPolicies.join(", ")}; got ${JSON.stringify(merged.shutdownOnDestroy)}`,
            ),
        );
    }
    if (known("stopBeforeDeallocate") && !["graceful", "hard"].includes(merged.stopBeforeDeallocate as string)) {
        errors.push(
            new InputError("stopBeforeDeallocate", `must be "graceful" or "hard"; got ${JSON.stringify(merged.stopBeforeDeallocate)}`),
        );
    }
    if (
        merged.vmResourceId !== undefined &&
        known("vmResourceId") &&
        (typeof merged.vmResourceId !== "string" || merged.vmResourceId === "")
    ) {
        errors.push(
            new InputError("vmResourceId", `must be the VM resource's id (a non-empty string); got ${JSON.stringify(merged.vmResourceId)}`),
        );
    }
    for (const key of ["forceAfterTimeout", "waitForGuestAgent"]) {
        if (known(key) && typeof merged[key] !== "boolean") {
            errors.push(new InputError(key, `must be true or false; got ${JSON.stringify(merged[key])}`));
        }
    }
    return { inputs: merged as unknown as VmPowerInputs, errors };
}

/** Like validateInputs, but throws all errors together. */
export function parseInputs(raw: Record<string, unknown>): VmPowerInputs {
    const { inputs, errors } = validateInputs(raw);
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new InputErrors(errors);
    return inputs;
}
