import { InputError } from "../power/errors";
import { describeType } from "./text";
import { parseYaml11 } from "./yaml";

/**
 * The user's own user-data, to merge the hooks into. Only `#cloud-config` can be merged
 * key by key; a shell script or a MIME multipart document is refused with a hint rather than
 * silently replaced.
 */
export function parseUserCloudConfig(raw: unknown, field: string): Record<string, unknown> {
    if (typeof raw !== "string") throw new InputError(field, `must be the text of a #cloud-config document, got ${describeType(raw)}`);
    const text = raw.replace(/^\uFEFF/, "");
    if (text.trim() === "") return {};
    if (!/^#cloud-config[ \t]*\r?\n|^#cloud-config[ \t]*$/.test(text)) {
        const kind = text.startsWith("#!")
            ? "a shell script"
            : /^content-type:/im.test(text.slice(0, 200))
              ? "a MIME multipart document"
              : "not #cloud-config";
        throw new InputError(
            field,
            `must start with "#cloud-config" to be merged; it is ${kind} (move its commands into a #cloud-config runcmd)`,
        );
    }
    let parsed: unknown;
    try {
        parsed = parseYaml11(text);
    } catch (e) {
        throw new InputError(field, `is not valid YAML: ${(e as Error).message.split("\n")[0]}`);
    }
    if (parsed === null || parsed === undefined) return {};
    if (typeof parsed !== "object" || Array.isArray(parsed))
        throw new InputError(field, `must be a YAML mapping of cloud-config keys, got ${describeType(parsed)}`);
    const config = parsed as Record<string, unknown>;
    for (const key of ["write_files", "runcmd", "packages"]) {
        if (config[key] !== undefined && config[key] !== null && !Array.isArray(config[key])) {
            throw new InputError(`${field}.${key}`, `must be a list to be merged, got ${describeType(config[key])}`);
        }
    }
    return config;
}

/** What the hooks add to a cloud-config. */
export interface CloudConfigAdditions {
    readonly write_files: ReadonlyArray<Readonly<Record<string, string>>>;
    readonly runcmd: ReadonlyArray<readonly string[]>;
    readonly packages: readonly string[];
}

/**
 * Merges the hooks' files, commands and packages into the user's cloud-config: their lists come
 * first (their runcmd may install the services our drop-ins refer to), ours are appended; every
 * other key is the user's. A file both write is an error rather than a silent overwrite.
 */
export function mergeCloudConfig(
    user: Readonly<Record<string, unknown>>,
    ours: CloudConfigAdditions,
    field: string,
): Record<string, unknown> {
    const merged: Record<string, unknown> = { ...user };
    const userFiles = (user.write_files as unknown[] | undefined) ?? [];
    const userPaths = new Set(userFiles.map((f) => (f && typeof f === "object" ? (f as Record<string, unknown>).path : undefined)));
    for (const file of ours.write_files) {
        if (userPaths.has(file.path))
            throw new InputError(`${field}.write_files`, `already writes ${file.path}, which the preStop hooks need to write`);
    }
    if (ours.write_files.length > 0) merged.write_files = [...userFiles, ...ours.write_files];
    if (ours.runcmd.length > 0) merged.runcmd = [...((user.runcmd as unknown[] | undefined) ?? []), ...ours.runcmd];
    const userPackages = (user.packages as unknown[] | undefined) ?? [];
    const extra = ours.packages.filter((p) => !userPackages.includes(p));
    if (extra.length > 0) merged.packages = [...userPackages, ...extra];
    return merged;
}
