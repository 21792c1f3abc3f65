import {
    Fields,
    checkSecret,
    optionalBoolean,
    rejectUnknownKeys,
    requireInteger,
    requireObject,
    requireString,
    requireUrl,
} from "../fields";
import { InputError, collectInputErrors, throwIfAny } from "../../power/errors";
import { PlatformSpec } from "../platform";
import { checkTrustCombination, parseCaCert, parseFingerprint } from "../common/tls";

/** The non-secret half of a Proxmox VE target (stored in plaintext state). */
export interface ProxmoxTarget {
    /** `https://pve.example.com:8006`, without a trailing slash or `/api2/json`. */
    readonly endpoint: string;
    /** The cluster node the VM lives on (`pve1`). */
    readonly node: string;
    /** The VM's numeric id (100 to 999999999). */
    readonly vmId: number;
    /** Skip certificate verification entirely. */
    readonly insecure: boolean;
    /** PEM bundle of the CA(s) that signed the node's certificate. */
    readonly caCert?: string;
    /** SHA-256 fingerprint of the node's certificate, upper case, `AA:BB:...`. */
    readonly fingerprint?: string;
}

/** The secret half: the API token, `USER@REALM!TOKENID=SECRET`. */
export interface ProxmoxCredentials {
    readonly apiToken: string;
}

const targetKeys = ["endpoint", "node", "vmId", "insecure", "caCert", "fingerprint"];

/** `pve-node` in the PVE schema is a host name label. */
const nodePattern = /^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/;
/**
 * `USER@REALM!TOKENID=SECRET`: user names may not contain `@`, `!`, `=` or white space; realm
 * and token ids follow PVE's `pve-realm` / `pve-tokenid` formats. The secret is usually a UUID,
 * but any non-blank text is passed through.
 */
export const apiTokenPattern = /^[^\s@!=:]+@[A-Za-z][A-Za-z0-9.\-_]+![A-Za-z][A-Za-z0-9.\-_]+=\S+$/;

export const minVmId = 100;
export const maxVmId = 999_999_999;

export const proxmoxSpec: PlatformSpec<ProxmoxTarget, ProxmoxCredentials> = {
    name: "proxmox",
    secretFields: ["apiToken"],
    identityFields: ["endpoint", "node", "vmId"],
    userDataLimit: {
        // PVE documents no limit for a cicustom snippet; this cap is ours, so a runaway merge fails at preview.
        bytes: 1_048_576,
        source: "our 1 MiB cap for a Proxmox cicustom user snippet (PVE documents no limit)",
    },
    supportsDeallocate: false,
    parseTarget(raw, field) {
        const obj = requireObject(raw, field);
        let endpoint = "";
        let node = "";
        let vmId = 0;
        let insecure: boolean | undefined;
        let caCert: string | undefined;
        let fingerprint: string | undefined;
        throwIfAny(
            collectInputErrors([
                () => {
                    // Only VmPower used directly can get here: the component moves it to credentials.
                    if (obj.apiToken !== undefined)
                        throw new InputError(`${field}.apiToken`, "is a secret; pass it in credentials so it is not stored in plaintext");
                },
                () => rejectUnknownKeys(obj, field, [...targetKeys, "apiToken"]),
                () => (endpoint = parseEndpoint(obj, field)),
                () => (node = requireString(obj, "node", field, { pattern: nodePattern, description: "a Proxmox node name such as pve1" })),
                () => (vmId = requireInteger(obj, "vmId", field, minVmId, maxVmId)),
                () => (insecure = optionalBoolean(obj, "insecure", field)),
                () => (caCert = parseCaCert(obj.caCert, `${field}.caCert`)),
                () => (fingerprint = parseFingerprint(obj.fingerprint, `${field}.fingerprint`)),
            ]),
        );
        checkTrustCombination({ insecure, caCert, fingerprint }, field);
        return {
            endpoint,
            node,
            vmId,
            insecure: insecure ?? false,
            ...(caCert !== undefined ? { caCert } : {}),
            ...(fingerprint !== undefined ? { fingerprint } : {}),
        };
    },
    parseCredentials(raw, field) {
        const obj = requireObject(raw, field);
        rejectUnknownKeys(obj, field, proxmoxSpec.secretFields);
        const apiToken = checkSecret(obj.apiToken, `${field}.apiToken`, {
            header: true,
            pattern: apiTokenPattern,
            description: "a Proxmox API token USER@REALM!TOKENID=SECRET (e.g. automation@pve!pulumi=<uuid>)",
        });
        return { apiToken };
    },
    describe: (target) => `proxmox ${target.endpoint} node ${target.node} VM ${target.vmId}`,
    warnings(target, gracefulTimeoutMs) {
        const warnings: string[] = [];
        if (target.insecure) {
            warnings.push(`TLS certificate verification is off for ${target.endpoint}; prefer caCert or fingerprint`);
        }
        if (gracefulTimeoutMs % 1000 !== 0) {
            warnings.push(
                `Proxmox counts shutdown timeouts in whole seconds; ${gracefulTimeoutMs} ms is rounded up to ${Math.ceil(gracefulTimeoutMs / 1000)} s`,
            );
        }
        return warnings;
    },
};

/** Accepts `https://host:8006`, with or without a trailing `/` or `/api2/json`, and normalises it. */
function parseEndpoint(obj: Fields, field: string): string {
    const url = requireUrl(obj, "endpoint", field, ["https:"]);
    if (url.search || url.hash) {
        throw new InputError(`${field}.endpoint`, "must not have a query or fragment; give only https://host:port");
    }
    const path = url.pathname.replace(/\/+$/, "").replace(/\/api2\/json$/, "");
    return `${url.origin}${path}`;
}
