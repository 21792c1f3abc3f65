import { InputError, InputErrors } from "../power/errors";
import { FleetVm } from "../operations/fleet";
import { CliRequest, UsageError } from "./args";
import { configKeys, inputsFromConfig, readConfigFile } from "./config";

/**
 * A `--fleet` file: tiers in start order, each with VMs in the GracefulVmGroup component's shape
 * (`name`, `target`, and the per-VM settings of a `--config` file), plus run settings and
 * `defaults` every VM inherits (a shared vCenter URL, a timeout).
 *
 *   concurrency: 10
 *   tiers:
 *     - name: database
 *       vms:
 *         - { name: db-1, target: { vsphere: { vm: db-1 } } }
 */
export interface FleetFile {
    readonly vms: readonly FleetVm[];
    readonly tierNames: readonly string[];
    readonly concurrency?: number;
    readonly perEndpoint?: number;
    readonly onFailure?: "halt" | "continue";
}

const fileKeys = ["tiers", "defaults", "concurrency", "perEndpoint", "onFailure"];

export function readFleetFile(request: CliRequest, env: NodeJS.ProcessEnv, cwd: string): FleetFile {
    const file = request.fleetFile as string;
    if (Object.keys(request.targetFlags).length > 0) {
        throw new UsageError("--fleet: target flags apply to one VM; put each VM's target in the fleet file");
    }
    const data = readConfigFile(file, cwd);
    for (const key of Object.keys(data)) {
        if (!fileKeys.includes(key)) throw new InputError(key, `is not a known fleet file key; expected one of ${fileKeys.join(", ")}`);
    }
    const defaults = asRecord(data.defaults ?? {}, "defaults");
    for (const key of Object.keys(defaults)) {
        if (!configKeys.includes(key))
            throw new InputError(`defaults.${key}`, `is not a known key; expected one of ${configKeys.join(", ")}`);
    }
    if (!Array.isArray(data.tiers) || data.tiers.length === 0) {
        throw new InputError("tiers", "must be a non-empty list of { name, vms: [...] }, in start order");
    }
    const vms: FleetVm[] = [];
    const tierNames: string[] = [];
    const errors: InputError[] = [];
    const seen = new Set<string>();
    data.tiers.forEach((rawTier: unknown, tier: number) => {
        const tierRecord = asRecord(rawTier, `tiers[${tier}]`);
        tierNames.push(typeof tierRecord.name === "string" ? tierRecord.name : `tier ${tier}`);
        if (!Array.isArray(tierRecord.vms) || tierRecord.vms.length === 0) {
            errors.push(new InputError(`tiers[${tier}].vms`, "must be a non-empty list of VMs"));
            return;
        }
        tierRecord.vms.forEach((rawVm: unknown, index: number) => {
            const field = `tiers[${tier}].vms[${index}]`;
            try {
                const { name, ...config } = asRecord(rawVm, field);
                if (typeof name !== "string" || name === "") throw new InputError(`${field}.name`, "must be a non-empty string");
                if (seen.has(name)) throw new InputError(`${field}.name`, `${JSON.stringify(name)} appears twice in the fleet`);
                seen.add(name);
                const inputs = inputsFromConfig(withDefaults(defaults, config), request, env, cwd);
                vms.push({ name, tier, inputs });
            } catch (e) {
                if (e instanceof InputErrors) errors.push(...e.errors.map((x) => new InputError(`${field}.${x.field}`, x.reason)));
                else if (e instanceof InputError)
                    errors.push(e.field.startsWith(field) ? e : new InputError(`${field}.${e.field}`, e.reason));
                else throw e;
            }
        });
    });
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new InputErrors(errors);
    return {
        vms,
        tierNames,
        concurrency: positive(data.concurrency, "concurrency"),
        perEndpoint: positive(data.perEndpoint, "perEndpoint"),
        onFailure: policy(data.onFailure),
    };
}

/** A VM's own settings win; its target is merged field by field (nested objects too) over the defaults' target. */
function withDefaults(defaults: Record<string, unknown>, config: Record<string, unknown>): Record<string, unknown> {
    const merged: Record<string, unknown> = { ...defaults, ...config };
    if (isRecord(defaults.target) && isRecord(config.target)) {
        // Only the platforms the VM names: a default target for another platform must not add a second one.
        const base = Object.fromEntries(Object.keys(config.target).map((k) => [k, (defaults.target as Record<string, unknown>)[k]]));
        merged.target = deepMerge(base, config.target);
    }
    return merged;
}

function deepMerge(base: Record<string, unknown>, own: Record<string, unknown>): Record<string, unknown> {
    const out: Record<string, unknown> = { ...base };
    for (const [key, value] of Object.entries(own)) {
        out[key] = isRecord(out[key]) && isRecord(value) ? deepMerge(out[key] as Record<string, unknown>, value) : value;
    }
    return out;
}

function isRecord(value: unknown): value is Record<string, unknown> {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}

function asRecord(value: unknown, field: string): Record<string, unknown> {
    if (!isRecord(value)) throw new InputError(field, "must be an object");
    return value;
}

function positive(value: unknown, field: string): number | undefined {
    if (value === undefined) return undefined;
    if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
        throw new InputError(field, `must be a whole number of at least 1; got ${JSON.stringify(value)}`);
    }
    return value;
}

function policy(value: unknown): "halt" | "continue" | undefined {
    if (value === undefined || value === "halt" || value === "continue") return value;
    throw new InputError("onFailure", `must be "halt" or "continue"; got ${JSON.stringify(value)}`);
}
