import { Fields, optionalOneOf, optionalString, rejectUnknownKeys, requireObject, requireString } from "../fields";
import { parseDuration } from "../../power/duration";
import { InputError, collectInputErrors, throwIfAny } from "../../power/errors";
import { PlatformSpec } from "../platform";

/** How the guest is asked to shut down. */
export const libvirtShutdownModes = ["auto", "acpi", "agent"] as const;
export type LibvirtShutdownMode = (typeof libvirtShutdownModes)[number];

/** A libvirt domain, as the driver uses it (validated, defaults filled). */
export interface LibvirtTarget {
    /** libvirt connection URI, e.g. `qemu:///system`, `qemu+ssh://admin@host/system`. */
    readonly uri: string;
    /** Domain name (or UUID). */
    readonly domain: string;
    readonly shutdownMode: LibvirtShutdownMode;
    /** Upper bound for one `virsh` call (ms). */
    readonly commandTimeoutMs: number;
}

/** libvirt needs no secrets of ours: its URI's transport (SSH keys, SASL files) carries them. */
export type LibvirtCredentials = Record<string, never>;

export const defaultLibvirtUri = "qemu:///system";
const defaultCommandTimeout = "30s";
const knownFields = ["uri", "domain", "shutdownMode", "commandTimeout"];

/**
 * `driver[+transport]://[user@][host][:port]/[path][?param=value&...]`. Characters a shell
 * would interpret are refused even though virsh runs without a shell: such a URI is a mistake
 * or an attack, never a libvirt connection. `&` is allowed only between query parameters.
 */
const uriPattern =
    /^[a-z][a-z0-9]*(?:\+[a-z][a-z0-9]*)?:\/\/(?:[A-Za-z0-9._~%-]+@)?[A-Za-z0-9._~%:[\]-]*\/[A-Za-z0-9._~%/:@=,+-]*(?:\?[A-Za-z0-9._~%/:@=,+-]+(?:&[A-Za-z0-9._~%/:@=,+-]+)*)?$/;
const uriDescription =
    "a libvirt URI such as qemu:///system, qemu:///session, qemu+ssh://user@host/system or qemu:///system?socket=/path (no spaces or shell characters)";

/** libvirt refuses `/` in names; control characters would corrupt virsh's line-based output. */
const domainPattern = /^[^/\u0000-\u001f\u007f]+$/;

export function parseLibvirtTarget(raw: unknown, field: string): LibvirtTarget {
    const obj: Fields = requireObject(raw, field);
    let uri = defaultLibvirtUri;
    let domain = "";
    let shutdownMode: LibvirtShutdownMode = "auto";
    let commandTimeoutMs = parseDuration(defaultCommandTimeout, `${field}.commandTimeout`);
    throwIfAny(
        collectInputErrors([
            () => rejectUnknownKeys(obj, field, knownFields),
            () => (uri = parseUri(obj, field) ?? defaultLibvirtUri),
            () =>
                (domain = requireString(obj, "domain", field, {
                    pattern: domainPattern,
                    description: 'a libvirt domain name (no "/")',
                    maxLength: 255,
                })),
            () => (shutdownMode = optionalOneOf(obj, "shutdownMode", field, libvirtShutdownModes) ?? "auto"),
            () => {
                if (obj.commandTimeout !== undefined && obj.commandTimeout !== null) {
                    commandTimeoutMs = parseDuration(obj.commandTimeout, `${field}.commandTimeout`);
                }
            },
        ]),
    );
    return { uri, domain, shutdownMode, commandTimeoutMs };
}

function parseUri(obj: Fields, field: string): string | undefined {
    const uri = optionalString(obj, "uri", field, { maxLength: 1024 });
    if (uri === undefined) return undefined;
    if (/^[a-z][a-z0-9+]*:\/\/[^/?]*:[^/?@]*@/i.test(uri)) {
        throw new InputError(`${field}.uri`, "must not embed a password; use SSH keys or a SASL auth file for the connection");
    }
    if (!uriPattern.test(uri)) {
        throw new InputError(`${field}.uri`, `must be ${uriDescription}, got ${JSON.stringify(uri)}`);
    }
    return uri;
}

export const libvirtSpec: PlatformSpec<LibvirtTarget, LibvirtCredentials> = {
    name: "libvirt",
    secretFields: [],
    identityFields: ["uri", "domain"],
    supportsDeallocate: false,
    parseTarget: parseLibvirtTarget,
    parseCredentials(raw, field) {
        if (raw === undefined || raw === null) return {};
        const obj = requireObject(raw, field);
        const keys = Object.keys(obj).filter((k) => obj[k] !== undefined);
        if (keys.length > 0) {
            throw new InputError(
                `${field}.${keys[0]}`,
                "libvirt takes no credentials here; the connection URI's transport (SSH keys, SASL) authenticates",
            );
        }
        return {};
    },
    describe: (target) => `${target.uri} domain ${target.domain}`,
    warnings(target, gracefulTimeoutMs) {
        const warnings: string[] = [];
        if (target.shutdownMode !== "acpi" && gracefulTimeoutMs < 5_000) {
            warnings.push(
                `target.libvirt: a graceful timeout of ${gracefulTimeoutMs} ms leaves little time for the guest agent check (up to 2 s) and the shutdown itself`,
            );
        }
        return warnings;
    },
};
