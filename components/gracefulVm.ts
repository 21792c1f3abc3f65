import * as pulumi from "@pulumi/pulumi";
import { PlatformName, platformNames } from "../src/drivers/platform";
import { platformSpec } from "../src/drivers/registry";
import { unknownKeyError } from "../src/drivers/fields";
import { InputError, InputErrors, throwIfAny } from "../src/power/errors";
import { TransitionReport } from "../src/power/report";
import { ObservedPowerState } from "../src/power/states";
import { unknownValue, validateInputs } from "../src/operations/inputs";
import { VmPower, vmPowerPolicyKeys } from "../src/providers/vmPower";
import { powerChildOptions } from "./childOptions";
import { previewWarnings } from "./previewWarnings";
import { GracefulVmArgs } from "./gracefulVmArgs";
import { knownParts } from "./known";
import { guestUserData } from "./userData";

/**
 * A VM with a declarative power state that is changed gracefully: the guest is asked to shut
 * down and gets `gracefulShutdownTimeout` to do so before a hard power-off, on every
 * `pulumi up` that changes `powerState` and when the component is destroyed.
 *
 * It wraps a VM created elsewhere (any provider, same program or not) named by `target`.
 *
 * Resource options reach the power child: `customTimeouts` bound its create, update and delete;
 * `retainOnDelete: true` means destroy leaves the VM as it is (no shutdown); `ignoreChanges`
 * takes the component's paths (`powerState`, `target.vsphere.vm`); `deletedWith` skips the
 * destroy shutdown when that resource is deleted too.
 */
export class GracefulVm extends pulumi.ComponentResource {
    /** The power state the platform reported after the last `up` or `refresh`. */
    public readonly observedPowerState: pulumi.Output<ObservedPowerState>;
    /** What the last power change did: method, why it fell back, timings and calls. */
    public readonly lastTransition: pulumi.Output<TransitionReport>;
    /** cloud-init user-data installing the preStop hooks, for the VM's own resource. */
    public readonly userData: pulumi.Output<string | undefined>;
    /** The child resource that holds the power state. */
    public readonly power: VmPower;

    constructor(name: string, args: GracefulVmArgs, opts?: pulumi.ComponentResourceOptions) {
        super("graceful-vm:index:GracefulVm", name, {}, opts);
        const platform = targetPlatform(args);
        const spec = platformSpec(platform, "target");
        throwEarly(platform, args);
        // Rendering validates the hooks and the time budget: fail before anything registers.
        const userData = guestUserData(args, platform);
        for (const warning of previewWarnings(platform, knownParts(args.target[platform]), args.gracefulShutdownTimeout, opts)) {
            void pulumi.log.warn(`graceful-vm: ${warning}`, this);
        }

        this.power = new VmPower(
            `${name}-power`,
            {
                platform,
                ...splitTarget(args.target[platform], spec.secretFields),
                ...pick(args, vmPowerPolicyKeys),
                vmResourceId: args.vm?.id,
                ...(args.restartTrigger !== undefined ? { restartTrigger: args.restartTrigger } : {}),
            },
            { ...powerChildOptions(this, opts, platform, spec.secretFields), dependsOn: args.vm ? [args.vm] : undefined },
        );
        this.observedPowerState = this.power.observedPowerState;
        this.lastTransition = this.power.lastTransition;
        this.userData = userData ?? pulumi.output(undefined);
        this.registerOutputs({
            observedPowerState: this.observedPowerState,
            lastTransition: this.lastTransition,
            userData: this.userData,
        });
    }
}

/** Every argument GracefulVm takes: anything else is a typo that would be silently ignored. */
const argumentKeys: readonly string[] = Object.keys({
    target: true,
    vm: true,
    preStop: true,
    lifecycle: true,
    powerState: true,
    gracefulShutdownTimeout: true,
    forceAfterTimeout: true,
    shutdownOnDestroy: true,
    stopBeforeDeallocate: true,
    waitForGuestAgent: true,
    restartTrigger: true,
    // The compiler keeps this list equal to GracefulVmArgs: a new argument cannot be forgotten.
} satisfies Record<keyof GracefulVmArgs, true>);

function targetPlatform(args: GracefulVmArgs): PlatformName {
    if (typeof args !== "object" || args === null || Array.isArray(args)) {
        throw new InputError("args", 'are required: an object with at least target, e.g. { target: { libvirt: { domain: "web-1" } } }');
    }
    throwIfAny(
        Object.keys(args)
            .filter((key) => !argumentKeys.includes(key))
            .map((key) => unknownKeyError(key, key, argumentKeys)),
    );
    if (typeof args.target !== "object" || args.target === null || pulumi.Output.isInstance(args.target)) {
        throw new InputError("target", `is required: an object with exactly one of ${platformNames.join(", ")}`);
    }
    throwIfAny(
        Object.keys(args.target)
            .filter((key) => !(platformNames as readonly string[]).includes(key))
            .map((key) => unknownKeyError(key, `target.${key}`, platformNames, "platform")),
    );
    const given = platformNames.filter((p) => args.target?.[p] !== undefined);
    if (given.length !== 1) {
        throw new InputError(
            "target",
            `must name exactly one of ${platformNames.join(", ")}; got ${given.length === 0 ? "none" : given.join(" and ")}`,
        );
    }
    return given[0];
}

/**
 * Validates what is already known at construction, so a typo fails `pulumi preview` at the
 * line that made it instead of deep inside the provider. Values that are Outputs are checked
 * by the provider once known.
 */
function throwEarly(platform: PlatformName, args: GracefulVmArgs): void {
    const split = knownParts(args.target[platform]);
    const spec = platformSpec(platform, "target");
    const isObject = split !== null && typeof split === "object";
    // A target given as one Output (or Promise) is not known yet: neither half is judged now.
    const { errors } = validateInputs({
        platform,
        target: isObject ? omit(split as Record<string, unknown>, spec.secretFields) : split,
        credentials: !isObject
            ? unknownValue
            : spec.secretFields.length > 0
              ? pick(split as Record<string, unknown>, spec.secretFields)
              : undefined,
        ...(knownParts(pick(args, vmPowerPolicyKeys)) as Record<string, unknown>),
    });
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new InputErrors(errors);
}

/**
 * The platform target as the child's `target` and `credentials`. A plain object is split field
 * by field, so each field keeps the secretness the user gave it (a secret URI stays a secret in
 * state, a plain URL stays readable). A target given as one Output is split inside it and keeps
 * its own secretness as a whole; nothing the user marked secret is ever unsecreted.
 */
function splitTarget(
    raw: pulumi.Input<object> | undefined,
    secretFields: readonly string[],
): { target: pulumi.Input<Record<string, unknown>>; credentials?: pulumi.Input<Record<string, unknown>> } {
    if (raw !== undefined && raw !== null && !pulumi.Output.isInstance(raw) && !(raw instanceof Promise)) {
        const fields = raw as Record<string, unknown>;
        return {
            target: omit(fields, secretFields),
            ...(secretFields.length > 0 ? { credentials: pick(fields, secretFields) } : {}),
        };
    }
    const whole = pulumi.output(raw as pulumi.Input<Record<string, unknown>>);
    return {
        target: whole.apply((t) => omit(t ?? {}, secretFields)),
        ...(secretFields.length > 0 ? { credentials: whole.apply((t) => pick(t ?? {}, secretFields)) } : {}),
    };
}

function omit<T extends object>(obj: T, keys: readonly string[]): Record<string, unknown> {
    return Object.fromEntries(Object.entries(obj).filter(([k]) => !keys.includes(k)));
}

function pick<T extends object>(obj: T, keys: readonly string[]): Record<string, unknown> {
    return Object.fromEntries(Object.entries(obj).filter(([k]) => keys.includes(k)));
}
