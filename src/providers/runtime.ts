import * as pulumi from "@pulumi/pulumi";
import { platformSpec } from "../drivers/registry";
import { parseDuration } from "../power/duration";
import { VmNotFoundError } from "../power/errors";
import { isSatisfied } from "../power/states";
import { VmPowerInputs, VmPowerOutputs, containsUnknown, validateInputs } from "./inputs";
import { transition, withDriver } from "./operations";

/**
 * The VmPower provider's real work. The serialized provider (provider.ts) only forwards to
 * this module, loaded by package name inside the provider host, so the closure stored in state
 * stays small and platform clients load only when a VM is touched.
 */

type Props = Record<string, unknown>;

const log = (message: string): void => {
    void pulumi.log.info(`graceful-vm: ${message}`);
};

export async function check(_olds: Props, news: Props): Promise<pulumi.dynamic.CheckResult> {
    const { inputs, errors } = validateInputs(news);
    if (errors.length === 0 && !containsUnknown(inputs.target) && !containsUnknown(inputs.gracefulShutdownTimeout)) {
        const spec = platformSpec(inputs.platform, "target");
        const target = spec.parseTarget(inputs.target, `target.${inputs.platform}`);
        const timeoutMs = parseDuration(inputs.gracefulShutdownTimeout, "gracefulShutdownTimeout");
        for (const warning of spec.warnings?.(target, timeoutMs) ?? []) {
            void pulumi.log.warn(`graceful-vm: ${warning}`);
        }
    }
    return {
        inputs: { ...news, ...inputs },
        failures: errors.map((e) => ({ property: e.field, reason: e.reason })),
    };
}

export async function diff(_id: string, olds: Props, news: Props): Promise<pulumi.dynamic.DiffResult> {
    const old = olds as unknown as VmPowerOutputs;
    const next = news as unknown as VmPowerInputs;
    const replaces = identityChanges(old, next);
    const changed = changedInputs(old, next);
    const powerDrift =
        !containsUnknown(next.powerState) && old.observedPowerState !== undefined && !isSatisfied(next.powerState, old.observedPowerState);
    if (powerDrift && !changed.includes("powerState")) changed.push("powerState");
    return {
        changes: changed.length > 0 || replaces.length > 0,
        replaces,
        deleteBeforeReplace: false,
        stables: [],
    };
}

export async function create(inputs: Props): Promise<pulumi.dynamic.CreateResult> {
    const checked = inputs as unknown as VmPowerInputs;
    const outs = await apply(checked);
    return { id: resourceId(checked), outs };
}

export async function update(_id: string, _olds: Props, news: Props): Promise<pulumi.dynamic.UpdateResult> {
    return { outs: await apply(news as unknown as VmPowerInputs) };
}

export async function read(id: string, props: Props): Promise<pulumi.dynamic.ReadResult> {
    const inputs = props as unknown as VmPowerOutputs;
    try {
        const observed = await withDriver(inputs, { log }, (driver) => driver.readState());
        return { id, props: { ...props, observedPowerState: observed.state, observedStateDetail: observed.detail ?? "" } };
    } catch (e) {
        // The VM is gone: so is the power state it had. Refresh drops the resource.
        if (e instanceof VmNotFoundError) return {};
        throw e;
    }
}

export async function remove(_id: string, props: Props): Promise<void> {
    const inputs = props as unknown as VmPowerOutputs;
    if (inputs.shutdownOnDestroy === "none") return;
    try {
        await transition(inputs, inputs.shutdownOnDestroy === "hard" ? "Off" : "OffGraceful", { log });
    } catch (e) {
        // Nothing left to shut down.
        if (e instanceof VmNotFoundError) return;
        throw e;
    }
}

async function apply(inputs: VmPowerInputs): Promise<Props> {
    const report = await transition(inputs, inputs.powerState, { log });
    return {
        ...inputs,
        observedPowerState: report.to,
        observedStateDetail: report.stateDetail ?? "",
        lastTransition: report,
    };
}

function resourceId(inputs: VmPowerInputs): string {
    const spec = platformSpec(inputs.platform, "target");
    return `${inputs.platform}:${spec.describe(spec.parseTarget(inputs.target, `target.${inputs.platform}`))}`;
}

/** Identity fields that changed to a known different value: a different VM. */
function identityChanges(old: VmPowerInputs, next: VmPowerInputs): string[] {
    if (containsUnknown(next.platform)) return [];
    if (old.platform !== next.platform) return ["target"];
    const spec = platformSpec(next.platform, "target");
    const oldTarget = old.target ?? {};
    const nextTarget = next.target ?? {};
    if (containsUnknown(nextTarget)) {
        // Not known until the VM's own resource is updated: decide at apply time, never
        // announce a replacement in preview that may not happen.
        return [];
    }
    return spec.identityFields.some((f) => JSON.stringify(oldTarget[f]) !== JSON.stringify(nextTarget[f])) ? ["target"] : [];
}

const comparedInputs = [
    "target",
    "credentials",
    "powerState",
    "gracefulShutdownTimeout",
    "forceAfterTimeout",
    "shutdownOnDestroy",
    "stopBeforeDeallocate",
    "waitForGuestAgent",
] as const;

function changedInputs(old: VmPowerInputs, next: VmPowerInputs): string[] {
    return comparedInputs.filter((key) => containsUnknown(next[key]) || JSON.stringify(old[key]) !== JSON.stringify(next[key]));
}
