import * as pulumi from "@pulumi/pulumi";
import { PlatformName } from "../src/drivers/platform";
import { platformSpec } from "../src/drivers/registry";
import { parseDuration } from "../src/power/duration";
import { inputDefaults } from "../src/operations/inputs";
import { isKnown } from "./known";

/**
 * Warnings `pulumi preview` shows on the component itself (so they point at the VM they are
 * about), for what is already known at construction: the platform's own (Azure cutting a guest
 * short after 5 minutes, TLS verification off) and custom timeouts too short for the guest.
 * Values known only later are warned about by the provider's check.
 */
export function previewWarnings(
    platform: PlatformName,
    target: unknown,
    gracefulShutdownTimeout: unknown,
    opts: pulumi.ComponentResourceOptions | undefined,
): string[] {
    const timeout = gracefulShutdownTimeout ?? inputDefaults.gracefulShutdownTimeout;
    if (!isKnown(timeout)) return [];
    let timeoutMs: number;
    try {
        timeoutMs = parseDuration(timeout as string, "gracefulShutdownTimeout");
    } catch {
        return []; // reported as an error elsewhere
    }
    const warnings: string[] = [];
    const spec = platformSpec(platform, "target");
    // Secrets are Outputs more often than not, and no warning depends on them.
    const visible =
        target && typeof target === "object"
            ? Object.fromEntries(Object.entries(target).filter(([key]) => !spec.secretFields.includes(key)))
            : target;
    if (isKnown(visible)) {
        try {
            warnings.push(...(spec.warnings?.(spec.parseTarget(visible, `target.${platform}`), timeoutMs) ?? []));
        } catch {
            // An invalid target is an error, reported where the inputs are validated.
        }
    }
    for (const operation of ["update", "delete"] as const) {
        const limit = opts?.customTimeouts?.[operation];
        if (limit === undefined) continue;
        let limitMs: number;
        try {
            limitMs = parseDuration(limit, `customTimeouts.${operation}`);
        } catch {
            continue; // Pulumi's own syntax (e.g. "1h30m") that ours does not read: not ours to judge
        }
        if (limitMs <= timeoutMs) {
            warnings.push(
                `customTimeouts.${operation} is ${limit}, not more than gracefulShutdownTimeout (${String(timeout)}): Pulumi may give up on the ${operation} while the guest is still shutting down; allow the timeout plus a minute`,
            );
        }
    }
    return warnings;
}
