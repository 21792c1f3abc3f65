import * as pulumi from "@pulumi/pulumi";
import { containsUnknown } from "../operations/inputs";
import { GroupInputs, GroupRunError, GroupState, applyGroup, planGroup, validateGroup } from "../operations/group";

/**
 * The VmGroup provider's real work, loaded by package name in the provider host like the
 * VmPower runtime. State: the checked inputs, `vmStates` (per VM: observed state and the
 * reports of the last run that touched it) and the same split into two plain outputs.
 */
type Props = Record<string, unknown>;

const log = (message: string): void => {
    void pulumi.log.info(`graceful-vm group: ${message}`);
};

export async function check(_olds: Props, news: Props): Promise<pulumi.dynamic.CheckResult> {
    if (containsUnknown(news.vms)) return { inputs: news };
    const { inputs, errors } = validateGroup(news);
    return {
        inputs: { ...news, ...inputs, vms: stripCredentials(inputs) },
        failures: errors.map((e) => ({ property: e.field, reason: e.reason })),
    };
}

export async function diff(_id: string, olds: Props, news: Props): Promise<pulumi.dynamic.DiffResult> {
    if (containsUnknown(news.vms) || containsUnknown(news.credentials)) return { changes: true };
    const plan = planGroup(previous(olds), parse(news));
    const settingsChanged = ["concurrency", "perEndpoint", "onFailure"].some((k) => JSON.stringify(olds[k]) !== JSON.stringify(news[k]));
    const tiersChanged = JSON.stringify(olds.vms) !== JSON.stringify(news.vms);
    return { changes: plan.size > 0 || settingsChanged || tiersChanged, replaces: [], deleteBeforeReplace: false };
}

export async function create(inputs: Props): Promise<pulumi.dynamic.CreateResult> {
    return { id: "group", outs: outputs(inputs, await run(undefined, parse(inputs))) };
}

export async function update(_id: string, olds: Props, news: Props): Promise<pulumi.dynamic.UpdateResult> {
    return { outs: outputs(news, await run(previous(olds), parse(news))) };
}

export async function read(id: string, props: Props): Promise<pulumi.dynamic.ReadResult> {
    return { id, props };
}

export async function remove(_id: string, props: Props): Promise<void> {
    await run(previous(props), undefined);
}

async function run(old: { inputs: GroupInputs; state: GroupState } | undefined, next: GroupInputs | undefined): Promise<GroupState> {
    try {
        return await applyGroup(old, next, { log });
    } catch (e) {
        // The dynamic-provider host keeps the old state on failure: the message carries every
        // VM's outcome, so the report of each is in `pulumi up`'s output.
        if (e instanceof GroupRunError) log(e.message);
        throw e;
    }
}

function parse(props: Props): GroupInputs {
    return validateGroup(props).inputs;
}

function previous(props: Props): { inputs: GroupInputs; state: GroupState } {
    return { inputs: parse(props), state: (props.vmStates ?? {}) as GroupState };
}

/** Credentials live in the top-level `credentials` output (a secret), never inside `vms`. */
function stripCredentials(inputs: GroupInputs): Record<string, unknown> {
    // Plain JSON: the engine's protobuf Struct refuses `undefined` inside nested objects.
    return JSON.parse(
        JSON.stringify(Object.fromEntries(Object.entries(inputs.vms).map(([name, vm]) => [name, { ...vm, credentials: undefined }]))),
    ) as Record<string, unknown>;
}

function outputs(inputs: Props, state: GroupState): Props {
    return {
        ...inputs,
        vmStates: JSON.parse(JSON.stringify(state)) as unknown,
        observedPowerStates: Object.fromEntries(Object.entries(state).map(([n, s]) => [n, s.observedPowerState])),
        reports: Object.fromEntries(Object.entries(state).map(([n, s]) => [n, s.lastReports])),
    };
}
