import * as fs from "fs";
import * as path from "path";
import { PlatformName } from "../drivers/platform";
import { InputError } from "../power/errors";
import { UsageError } from "./usageError";

/**
 * Every platform's non-secret target fields as flags (`--vsphere-url`) and environment variables
 * (`GRACEFUL_VM_VSPHERE_URL`), so a pipeline needs no config file. Secrets stay out of argv: they
 * come from `GRACEFUL_VM_<FIELD>` only (see config.ts). `file` fields take a path and read the
 * file (`--vsphere-ca-cert-file`), so PEM text never has to pass through a flag.
 */
export type FlagType = "string" | "number" | "boolean" | "file";

export const targetFlagFields: Readonly<Record<Exclude<PlatformName, "custom">, Readonly<Record<string, FlagType>>>> = {
    libvirt: { uri: "string", domain: "string", shutdownMode: "string", commandTimeout: "string" },
    vsphere: { url: "string", username: "string", vm: "string", datacenter: "string", caCert: "file", insecure: "boolean" },
    proxmox: { endpoint: "string", node: "string", vmId: "number", caCert: "file", fingerprint: "string", insecure: "boolean" },
    azure: {
        subscriptionId: "string",
        resourceGroupName: "string",
        vmName: "string",
        tenantId: "string",
        clientId: "string",
        credential: "string",
        resourceManagerEndpoint: "string",
        authorityHost: "string",
        caCert: "file",
        federatedTokenFile: "string",
        oidcTokenFilePath: "string",
        oidcRequestUrl: "string",
    },
};

/** The libvirt flags from before every platform had its own; kept because pipelines use them. */
export const legacyLibvirtFlags: Readonly<Record<string, string>> = {
    "libvirt-uri": "uri",
    domain: "domain",
    "shutdown-mode": "shutdownMode",
};

const kebab = (field: string): string => field.replace(/([a-z0-9])([A-Z])/g, "$1-$2").toLowerCase();

/** `vsphere`, `caCert` → `vsphere-ca-cert-file`. */
export function flagName(platform: string, field: string, type: FlagType): string {
    return `${platform}-${kebab(field)}${type === "file" ? "-file" : ""}`;
}

/** `vsphere`, `caCert` → `GRACEFUL_VM_VSPHERE_CA_CERT_FILE`. */
export function targetEnvName(platform: string, field: string, type: FlagType): string {
    return `GRACEFUL_VM_${flagName(platform, field, type).replace(/-/g, "_").toUpperCase()}`;
}

/** The parseArgs option table for every target flag. */
export function targetFlagOptions(): Record<string, { type: "string" }> {
    const options: Record<string, { type: "string" }> = {};
    for (const [platform, fields] of Object.entries(targetFlagFields)) {
        for (const [field, type] of Object.entries(fields)) options[flagName(platform, field, type)] = { type: "string" };
    }
    for (const flag of Object.keys(legacyLibvirtFlags)) options[flag] = { type: "string" };
    return options;
}

/** Raw flag and environment values, per platform, before they are converted. */
export type TargetValues = Partial<Record<PlatformName, Record<string, string>>>;

/** Picks the target flags out of parseArgs' values. */
export function targetFlagValues(values: Record<string, unknown>): TargetValues {
    const found: TargetValues = {};
    for (const [platform, fields] of Object.entries(targetFlagFields)) {
        for (const [field, type] of Object.entries(fields)) {
            const value = values[flagName(platform, field, type)];
            if (typeof value === "string") (found[platform as PlatformName] ??= {})[field] = value;
        }
    }
    for (const [flag, field] of Object.entries(legacyLibvirtFlags)) {
        const value = values[flag];
        if (typeof value === "string") (found.libvirt ??= {})[field] = value;
    }
    return found;
}

/** `GRACEFUL_VM_<PLATFORM>_<FIELD>` variables that are set (and not empty). */
export function targetEnvValues(env: NodeJS.ProcessEnv): TargetValues {
    const found: TargetValues = {};
    for (const [platform, fields] of Object.entries(targetFlagFields)) {
        for (const [field, type] of Object.entries(fields)) {
            const value = env[targetEnvName(platform, field, type)];
            if (value !== undefined && value !== "") (found[platform as PlatformName] ??= {})[field] = value;
        }
    }
    return found;
}

/** Converts one platform's raw values to target fields; `source` names the flag or variable in errors. */
export function convertTargetValues(
    platform: PlatformName,
    raw: Record<string, string>,
    source: (field: string, type: FlagType) => string,
    cwd: string,
): Record<string, unknown> {
    const types = platform === "custom" ? {} : targetFlagFields[platform];
    const converted: Record<string, unknown> = {};
    for (const [field, text] of Object.entries(raw)) {
        const type = types[field] ?? "string";
        switch (type) {
            case "number":
                if (!/^\d+$/.test(text)) throw new InputError(source(field, type), `must be a whole number, got ${JSON.stringify(text)}`);
                converted[field] = Number(text);
                break;
            case "boolean":
                if (!/^(true|false)$/.test(text))
                    throw new InputError(source(field, type), `must be true or false, got ${JSON.stringify(text)}`);
                converted[field] = text === "true";
                break;
            case "file":
                converted[field] = readTargetFile(path.resolve(cwd, text), source(field, type));
                break;
            default:
                converted[field] = text;
        }
    }
    return converted;
}

function readTargetFile(file: string, source: string): string {
    try {
        return fs.readFileSync(file, "utf8");
    } catch (e) {
        throw new UsageError(`${source} ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    }
}
