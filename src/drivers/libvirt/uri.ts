import { InputError } from "../../power/errors";

/**
 * What a libvirt connection URI may ask `virsh` to do. A URI is more than an address: its
 * transport and parameters can make libvirt run a program (`qemu+ext:///system?command=PROG`,
 * `?netcat=PROG` on the remote host) or skip a verification (`?no_verify=1`, plain `tcp`).
 * Only the drivers, transports and parameters below are accepted; a transport or parameter that
 * turns a verification off needs `insecure: true`, which is reported like on the other
 * platforms; one that runs a program is always refused.
 */

/** Hypervisor drivers `virsh` can reach through this package (the `qemu` of `qemu+ssh://`). */
const drivers = ["qemu", "lxc", "xen", "libxl", "test", "ch", "bhyve", "vbox", "vz"];

/** Transports (the `ssh` of `qemu+ssh://`): verified, unverified, or never. */
const verifiedTransports = ["", "unix", "ssh", "libssh", "libssh2", "tls"];
const unverifiedTransports = ["tcp"];

type ParamRule = "any" | readonly string[] | { readonly safe: readonly string[]; readonly insecure: readonly string[] };

/** libvirt's documented URI parameters (https://libvirt.org/uri.html#extra-parameters), minus `command` and `netcat`. */
const params: Record<string, ParamRule> = {
    name: "any",
    socket: "any",
    mode: ["auto", "legacy", "direct"],
    proxy: ["auto", "netcat", "native"],
    keyfile: "any",
    known_hosts: "any",
    sshauth: "any",
    pkipath: "any",
    no_tty: ["0", "1"],
    no_verify: { safe: ["0"], insecure: ["1"] },
    known_hosts_verify: { safe: ["normal", "auto"], insecure: ["ignore"] },
    tls_priority: { safe: [], insecure: ["*"] },
};

/** Parameters that name a program to run: never accepted, whatever the opt-in. */
const programParams = ["command", "netcat"];

export interface CheckedUri {
    readonly uri: string;
    /** Why the URI needs `insecure: true` (empty when it does not). */
    readonly unverified: readonly string[];
}

/**
 * Checks `uri` against the allowlist; `field` is `target.libvirt.uri`. Never echoes a value
 * that could hold a password.
 */
export function checkLibvirtUri(uri: string, field: string): CheckedUri {
    // A password anywhere before the host (whatever it contains: `/`, `?`, `#`, `@`) is refused
    // before anything else, so no later message can quote it.
    const authority = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/(.*)@/s.exec(uri);
    if (authority && authority[1].includes(":")) {
        throw new InputError(field, "must not embed a password; use SSH keys or a SASL auth file for the connection");
    }
    const scheme = /^([a-z][a-z0-9]*)(?:\+([a-z][a-z0-9]*))?:\/\//.exec(uri);
    if (!scheme) return { uri, unverified: [] }; // the caller's pattern check names the shape
    const [, driver, transport = ""] = scheme;
    if (!drivers.includes(driver)) {
        throw new InputError(
            field,
            `uses the libvirt driver ${JSON.stringify(driver)}, which is not supported; expected one of ${drivers.join(", ")}`,
        );
    }
    const unverified: string[] = [];
    if (transport === "ext") {
        throw new InputError(field, "must not use the ext transport: it makes libvirt run a program named in the URI");
    }
    if (unverifiedTransports.includes(transport)) {
        unverified.push(`the ${transport} transport is neither encrypted nor authenticated`);
    } else if (!verifiedTransports.includes(transport)) {
        throw new InputError(
            field,
            `uses the transport ${JSON.stringify(transport)}, which is not supported; expected one of ${[...verifiedTransports.filter(Boolean), ...unverifiedTransports].join(", ")}`,
        );
    }
    const query = uri.includes("?") ? uri.slice(uri.indexOf("?") + 1) : "";
    for (const pair of query === "" ? [] : query.split("&")) {
        const [rawName, ...rest] = pair.split("=");
        const name = safeDecode(rawName);
        const value = safeDecode(rest.join("="));
        if (programParams.includes(name)) {
            throw new InputError(field, `must not set the parameter ${name}: it names a program for libvirt to run`);
        }
        const rule = params[name];
        if (rule === undefined) {
            throw new InputError(
                field,
                `has the parameter ${JSON.stringify(name)}, which is not allowed; expected one of ${Object.keys(params).join(", ")}`,
            );
        }
        if (rule === "any") continue;
        if (Array.isArray(rule)) {
            if (!rule.includes(value)) throw new InputError(field, `parameter ${name} must be one of ${rule.join(", ")}`);
            continue;
        }
        const { safe, insecure } = rule as { safe: readonly string[]; insecure: readonly string[] };
        if (safe.includes(value)) continue;
        if (insecure.includes(value) || insecure.includes("*")) {
            unverified.push(`${name}=${value} weakens or skips verification`);
            continue;
        }
        throw new InputError(field, `parameter ${name} must be one of ${[...safe, ...insecure].join(", ")}`);
    }
    return { uri, unverified };
}

function safeDecode(text: string): string {
    try {
        return decodeURIComponent(text);
    } catch {
        return text;
    }
}
