import * as pulumi from "@pulumi/pulumi";
import { platformSpec } from "../drivers/registry";
import { parseDuration } from "../power/duration";
import { VmNotFoundError } from "../power/errors";
import { TransitionReport, summarizeReport } from "../power/report";
import { DesiredPowerState, isSatisfied } from "../power/states";
import { VmPowerInputs, VmPowerOutputs, containsUnknown, powerPolicyKeys, unknownValue, validateInputs } from "../operations/inputs";
import { transition, withDriver } from "../operations/run";
import { ProgressLog } from "./progressLog";

/**
 * The VmPower provider's real work. The serialized provider (provider.ts) only forwards to
 * this module, loaded by package name inside the provider host, so the closure stored in state
 * stays small and platform clients load only when a VM is touched.
 */

type Props = Record<string, unknown>;

const log = (message: string): void => {
    void pulumi.log.info(`graceful-vm: ${message}`);
};

/**
 * The VMs a VmPower created or updated in this provider host. The engine starts one host per
 * `pulumi up` and replaces create-before-delete by default (`--replace`, a rename, a user's
 * `deleteBeforeReplace: false`): the successor is created, and the old resource deleted, in the
 * same host. A delete of a VM claimed here is the old half of such a replacement and must not
 * shut down the VM its successor now holds in the desired state.
 */
const claimedThisDeployment = new Set<string>();

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
    const replaces = [...identityChanges(old, next), ...vmResourceChanges(old, next)];
    const changed = changedInputs(old, next);
    const powerDrift =
        !containsUnknown(next.powerState) && old.observedPowerState !== undefined && !isSatisfied(next.powerState, old.observedPowerState);
    if (powerDrift && !changed.includes("powerState")) changed.push("powerState");
    return {
        changes: changed.length > 0 || replaces.length > 0,
        replaces,
        // The old resource's delete shuts its VM down; doing it first means a replacement
        // that still names the same VM ends in the desired state, not switched off.
        deleteBeforeReplace: replaces.length > 0,
        stables: [],
    };
}

export async function create(inputs: Props): Promise<pulumi.dynamic.CreateResult> {
    const checked = inputs as unknown as VmPowerInputs;
    const outs = await apply(checked);
    claimedThisDeployment.add(resourceId(checked));
    return { id: resourceId(checked), outs };
}

export async function update(_id: string, olds: Props, news: Props): Promise<pulumi.dynamic.UpdateResult> {
    const checked = news as unknown as VmPowerInputs;
    const restart =
        checked.powerState === "On" && JSON.stringify(olds.restartTrigger ?? null) !== JSON.stringify(checked.restartTrigger ?? null);
    const outs = restart ? await restartVm(checked) : await apply(checked);
    claimedThisDeployment.add(resourceId(checked));
    return { outs };
}

/** `restartTrigger` changed: a graceful stop, then the power-on; the stop's summary is kept as a note. */
async function restartVm(inputs: VmPowerInputs): Promise<Props> {
    const stopped = await transitionWithProgress(inputs, "OffGraceful");
    log(summarizeReport(stopped));
    const outs = await apply(inputs);
    const started = outs.lastTransition as TransitionReport;
    return {
        ...outs,
        lastTransition: {
            ...started,
            notes: [...started.notes, `restarted (restartTrigger changed); the stop: ${summarizeReport(stopped)}`],
        },
    };
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
    if (claimedThisDeployment.has(resourceId(inputs))) {
        log(`not shutting down ${resourceId(inputs)}: its replacement in this deployment now holds its power state`);
        return;
    }
    try {
        const report = await transitionWithProgress(inputs, inputs.shutdownOnDestroy === "hard" ? "Off" : "OffGraceful");
        log(summarizeReport(report));
    } catch (e) {
        // Nothing left to shut down.
        if (e instanceof VmNotFoundError) return;
        throw e;
    }
}

/** A transition whose progress reaches `pulumi up`'s log at least every 10 s. */
async function transitionWithProgress(inputs: VmPowerInputs, desired: DesiredPowerState): Promise<TransitionReport> {
    const progress = new ProgressLog(log);
    try {
        return await transition(inputs, desired, { log, onProgress: progress.update });
    } finally {
        progress.stop();
    }
}

async function apply(inputs: VmPowerInputs): Promise<Props> {
    const report = await transitionWithProgress(inputs, inputs.powerState);
    log(summarizeReport(report));
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

/**
 * Identity fields that changed to a known different value: a different VM. Targets are compared
 * as the platform parses them, so spelling out a default (`uri: qemu:///system`) is no change.
 */
function identityChanges(old: VmPowerInputs, next: VmPowerInputs): string[] {
    if (containsUnknown(next.platform)) return [];
    if (old.platform !== next.platform) return ["target"];
    if ((next.target as unknown) === unknownValue) {
        // The whole target unknown: how the engine asks, before replacing the VM's own resource
        // delete-first, whether we must go first (the inputs that depend on it set to unknown).
        // Answering "replace" gets the graceful shutdown in before the VM is deleted.
        return ["target"];
    }
    if (containsUnknown(next.target)) {
        // Not known until the VM's own resource is updated: decide at apply time, never
        // announce a replacement in preview that may not happen.
        return [];
    }
    const spec = platformSpec(next.platform, "target");
    const identity = (target: Record<string, unknown> | undefined): string => {
        let parsed: unknown = target ?? {};
        try {
            parsed = spec.parseTarget(target, `target.${next.platform}`);
        } catch {
            // An old target that no longer validates is compared as stored.
        }
        const fields = parsed as Record<string, unknown>;
        return JSON.stringify(spec.identityFields.map((f) => fields[f]));
    };
    return identity(old.target) !== identity(next.target) ? ["target"] : [];
}

/** The VM's own resource was replaced (a new id) or is about to be (unknown): a different VM. */
function vmResourceChanges(old: VmPowerInputs, next: VmPowerInputs): string[] {
    if (next.vmResourceId === undefined) return [];
    if (containsUnknown(next.vmResourceId)) return ["vmResourceId"];
    // Tying an existing power resource to its VM's resource is no new VM.
    if (old.vmResourceId === undefined) return [];
    return next.vmResourceId !== old.vmResourceId ? ["vmResourceId"] : [];
}

const comparedInputs = ["target", "credentials", "vmResourceId", "restartTrigger", ...powerPolicyKeys] as const;

function changedInputs(old: VmPowerInputs, next: VmPowerInputs): string[] {
    return comparedInputs.filter((key) => containsUnknown(next[key]) || JSON.stringify(old[key]) !== JSON.stringify(next[key]));
}

/** The VmGroup provider's half (see groupRuntime.ts). */
export * as group from "./groupRuntime";
