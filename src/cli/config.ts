import * as fs from "fs";
import * as path from "path";
import { parse as parseYaml } from "yaml";
import { PlatformName, platformNames } from "../drivers/platform";
import { unknownKeyError } from "../drivers/fields";
import { platformSpec } from "../drivers/registry";
import { InputError } from "../power/errors";
import { VmPowerInputs, parseInputs } from "../operations/inputs";
import { CliRequest, UsageError } from "./args";
import { TargetValues, convertTargetValues, flagName, targetEnvName, targetEnvValues } from "./targetFlags";

/**
 * Builds the same VmPower inputs the Pulumi provider gets, from a config file shaped like the
 * GracefulVm component's arguments, the libvirt flags, and secrets from the environment.
 */

export const configKeys = ["target", "gracefulShutdownTimeout", "forceAfterTimeout", "waitForGuestAgent", "stopBeforeDeallocate"];

/** `clientSecret` -> `GRACEFUL_VM_CLIENT_SECRET`. */
export function secretEnvName(field: string): string {
    return `GRACEFUL_VM_${field
        .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
        .replace(/[^A-Za-z0-9]+/g, "_")
        .toUpperCase()}`;
}

export function readConfigFile(file: string, cwd: string): Record<string, unknown> {
    const resolved = path.resolve(cwd, file);
    let text: string;
    try {
        text = fs.readFileSync(resolved, "utf8");
    } catch (e) {
        throw new UsageError(`--config ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    }
    let data: unknown;
    try {
        data = /\.json$/i.test(resolved) ? JSON.parse(text) : parseYaml(text);
    } catch (e) {
        throw new UsageError(
            `--config ${file}: not valid ${/\.json$/i.test(resolved) ? "JSON" : "YAML"}: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}`,
        );
    }
    if (typeof data !== "object" || data === null || Array.isArray(data)) {
        throw new UsageError(`--config ${file}: must hold an object such as { target: { libvirt: { domain: web-1 } } }`);
    }
    return data as Record<string, unknown>;
}

export function buildInputs(request: CliRequest, env: NodeJS.ProcessEnv, cwd: string): VmPowerInputs {
    const config = request.configFile ? readConfigFile(request.configFile, cwd) : {};
    return inputsFromConfig(config, request, env, cwd);
}

/** One VM's inputs from a config object (a `--config` file, or one VM of a `--fleet` file). */
export function inputsFromConfig(config: Record<string, unknown>, request: CliRequest, env: NodeJS.ProcessEnv, cwd: string): VmPowerInputs {
    for (const key of Object.keys(config)) {
        if (!configKeys.includes(key)) throw unknownKeyError(key, key, configKeys, "config key");
    }
    const targets = withTargetValues(config.target, request.targetFlags, targetEnvValues(env), cwd);
    const platform = onePlatform(targets);
    const spec = platformSpec(platform, "target");
    const platformTarget = targets[platform];
    if (typeof platformTarget !== "object" || platformTarget === null || Array.isArray(platformTarget)) {
        throw new InputError(`target.${platform}`, "must be an object");
    }
    const fields = platformTarget as Record<string, unknown>;
    const target: Record<string, unknown> = {};
    const credentials: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(fields)) {
        (spec.secretFields.includes(key) ? credentials : target)[key] = value;
    }
    for (const field of spec.secretFields) {
        // Taken as it is unless the field holds an object: a password that starts with `{` is a password.
        const fromEnv = env[secretEnvName(field)];
        if (fromEnv !== undefined && fromEnv !== "")
            credentials[field] = spec.jsonSecretFields?.includes(field) ? parseJsonSecret(fromEnv, field) : fromEnv;
    }
    return parseInputs({
        platform,
        target,
        credentials: spec.secretFields.length > 0 ? credentials : undefined,
        powerState: request.desired ?? "On",
        gracefulShutdownTimeout: request.timeout ?? config.gracefulShutdownTimeout,
        forceAfterTimeout: request.noForce ? false : config.forceAfterTimeout,
        waitForGuestAgent: request.waitForAgent ? true : config.waitForGuestAgent,
        stopBeforeDeallocate: config.stopBeforeDeallocate,
        shutdownOnDestroy: "none",
    });
}

/**
 * The target from the config file, flags and `GRACEFUL_VM_<PLATFORM>_<FIELD>` variables. Flags
 * win over the file, the file over the environment; variables of a platform that flags or the
 * file do not name are ignored, so a CI runner's leftover variables cannot redirect a command.
 */
function withTargetValues(configTarget: unknown, flags: TargetValues, fromEnv: TargetValues, cwd: string): Record<string, unknown> {
    if (configTarget !== undefined && (typeof configTarget !== "object" || configTarget === null || Array.isArray(configTarget))) {
        throw new InputError("target", "must be an object with one platform key, e.g. { libvirt: { domain: web-1 } }");
    }
    const targets = { ...((configTarget as Record<string, unknown> | undefined) ?? {}) };
    const flagPlatforms = Object.keys(flags) as PlatformName[];
    if (flagPlatforms.length > 1) throw new UsageError(`target flags for more than one platform: ${flagPlatforms.join(" and ")}`);
    for (const platform of flagPlatforms) {
        const others = Object.keys(targets).filter((k) => k !== platform && targets[k] !== undefined && targets[k] !== null);
        if (others.length > 0) {
            throw new UsageError(`--${platform}-... flags are for ${platform}, but the config file's target is ${others.join(", ")}`);
        }
        const converted = convertTargetValues(platform, flags[platform] ?? {}, (f, t) => `--${flagName(platform, f, t)}`, cwd);
        targets[platform] = { ...asObject(targets[platform]), ...converted };
    }
    const named = Object.keys(targets).filter((k) => targets[k] !== undefined && targets[k] !== null);
    const envPlatforms = Object.keys(fromEnv) as PlatformName[];
    const envFields = (platform: PlatformName) =>
        convertTargetValues(platform, fromEnv[platform] ?? {}, (f, t) => targetEnvName(platform, f, t), cwd);
    if (named.length === 0) {
        if (envPlatforms.length === 1) return { [envPlatforms[0]]: envFields(envPlatforms[0]) };
        if (envPlatforms.length > 1) {
            throw new UsageError(`GRACEFUL_VM_<PLATFORM>_* variables are set for more than one platform: ${envPlatforms.join(" and ")}`);
        }
        throw new UsageError(
            "no target: give --config FILE, target flags (--domain NAME, --vsphere-url URL --vsphere-vm VM, ...) or GRACEFUL_VM_<PLATFORM>_<FIELD> variables; see --help",
        );
    }
    for (const platform of named) {
        if (envPlatforms.includes(platform as PlatformName)) {
            targets[platform] = { ...envFields(platform as PlatformName), ...asObject(targets[platform]) };
        }
    }
    return targets;
}

function asObject(value: unknown): Record<string, unknown> {
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function onePlatform(targets: Record<string, unknown>): PlatformName {
    const given = Object.keys(targets).filter((k) => targets[k] !== undefined && targets[k] !== null);
    const unknown = given.filter((k) => !(platformNames as readonly string[]).includes(k));
    if (unknown.length > 0) throw new InputError(`target.${unknown[0]}`, `is not a platform; expected one of ${platformNames.join(", ")}`);
    if (given.length !== 1) {
        throw new InputError(
            "target",
            `must name exactly one of ${platformNames.join(", ")}; got ${given.length === 0 ? "none" : given.join(" and ")}`,
        );
    }
    return given[0] as PlatformName;
}

function parseJsonSecret(text: string, field: string): unknown {
    try {
        return JSON.parse(text);
    } catch {
        // No cause attached: the parser's message quotes the secret text.
        throw new InputError(secretEnvName(field), "must be a JSON object (it holds several secrets)");
    }
}
