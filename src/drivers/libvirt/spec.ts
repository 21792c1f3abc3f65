import { Fields, optionalBoolean, optionalOneOf, optionalString, rejectUnknownKeys, requireObject, requireString } from "../fields";
import { parseDuration } from "../../power/duration";
import { InputError, collectInputErrors, throwIfAny } from "../../power/errors";
import { PlatformSpec } from "../platform";
import { checkLibvirtUri } from "./uri";

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
    /** The user allowed a URI that skips a verification (`tcp`, `no_verify=1`); reported. */
    readonly insecure?: true;
}

/** libvirt needs no secrets of ours: its URI's transport (SSH keys, SASL files) carries them. */
export type LibvirtCredentials = Record<string, never>;

export const defaultLibvirtUri = "qemu:///system";
const defaultCommandTimeout = "30s";
const knownFields = ["uri", "domain", "shutdownMode", "commandTimeout", "insecure"];

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
    let insecure = false;
    let unverified: readonly string[] = [];
    throwIfAny(
        collectInputErrors([
            () => rejectUnknownKeys(obj, field, knownFields),
            () => (insecure = optionalBoolean(obj, "insecure", field) ?? false),
            () => {
                const checked = parseUri(obj, field);
                uri = checked?.uri ?? defaultLibvirtUri;
                unverified = checked?.unverified ?? [];
            },
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
    if (unverified.length > 0 && !insecure) {
        throw new InputError(`${field}.uri`, `${unverified.join("; ")}: set ${field}.insecure to true to allow it (it is reported)`);
    }
    return { uri, domain, shutdownMode, commandTimeoutMs, ...(insecure ? { insecure: true as const } : {}) };
}

function parseUri(obj: Fields, field: string): { uri: string; unverified: readonly string[] } | undefined {
    // Not quoted back by optionalString: a malformed URI may hold a password.
    const uri = optionalString(obj, "uri", field, { maxLength: 1024, secret: true });
    if (uri === undefined) return undefined;
    const checked = checkLibvirtUri(uri, `${field}.uri`);
    if (!uriPattern.test(uri)) {
        throw new InputError(`${field}.uri`, `must be ${uriDescription}, got ${JSON.stringify(uri)}`);
    }
    return checked;
}

export const libvirtSpec: PlatformSpec<LibvirtTarget, LibvirtCredentials> = {
    name: "libvirt",
    secretFields: [],
    identityFields: ["uri", "domain"],
    userDataLimit: {
        // A NoCloud seed has no fixed limit; this cap is ours, so a runaway merge fails at preview.
        bytes: 1_048_576,
        source: "our 1 MiB cap for a cloud-init NoCloud seed (libvirt and cloud-init document no limit)",
    },
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
    describe: (target) => `${target.uri} domain ${target.domain}${target.insecure ? " (connection not verified)" : ""}`,
    warnings(target, gracefulTimeoutMs) {
        const warnings: string[] = [];
        if (target.insecure) {
            warnings.push(
                `target.libvirt.insecure is true: the connection to ${target.uri} is not verified, so anyone on the path can pose as libvirt`,
            );
        }
        if (target.shutdownMode !== "acpi" && gracefulTimeoutMs < 5_000) {
            warnings.push(
                `target.libvirt: a graceful timeout of ${gracefulTimeoutMs} ms leaves little time for the guest agent check (up to 2 s) and the shutdown itself`,
            );
        }
        return warnings;
    },
};
