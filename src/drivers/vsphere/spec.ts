import { InputError } from "../../power/errors";
import {
    checkSecret,
    optionalBoolean,
    optionalString,
    refuseUserInfo,
    rejectUnknownKeys,
    requireObject,
    requireString,
    validateAll,
} from "../fields";
import { PlatformSpec } from "../platform";
import { checkTrustCombination, parseCaCert } from "../common/tls";
import { VmSelector, describeSelector, parseVmSelector } from "./selector";

/** The non-secret part of `target.vsphere`, validated and normalised. */
export interface VsphereTarget {
    /** `https://host[:port]/sdk`. */
    readonly url: string;
    readonly username: string;
    /** As the user wrote it (kept for messages). */
    readonly vm: string;
    readonly selector: VmSelector;
    readonly datacenter?: string;
    readonly insecure: boolean;
    /** PEM, one or more certificates. */
    readonly caCert?: string;
}

export interface VsphereCredentials {
    readonly password: string;
}

const targetKeys = ["url", "username", "vm", "datacenter", "insecure", "caCert"];
const credentialKeys = ["password"];

/**
 * `url` accepts `https://vc.example.com/sdk`, `https://vc.example.com` and a bare
 * `vc.example.com[:port]`; all mean the SDK endpoint `https://…/sdk`. Plain http is refused:
 * the password would cross the network in clear text.
 */
export function normaliseSdkUrl(text: string, field: string): URL {
    refuseUserInfo(text, field);
    const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `https://${text}`;
    let url: URL;
    try {
        url = new URL(withScheme);
    } catch {
        throw new InputError(field, `must be the vSphere SDK URL such as https://vcenter.example.com/sdk, got ${JSON.stringify(text)}`);
    }
    if (url.protocol !== "https:")
        throw new InputError(field, `must use https: (the password would travel in clear text over ${url.protocol})`);
    if (url.username || url.password)
        throw new InputError(field, "must not embed credentials; use target.vsphere.username and password, which stay secret");
    if (url.search || url.hash) throw new InputError(field, "must not have a query or fragment");
    if (url.pathname === "/" || url.pathname === "") url.pathname = "/sdk";
    return url;
}

export const vsphereSpec: PlatformSpec<VsphereTarget, VsphereCredentials> = {
    name: "vsphere",
    // The username stays in plaintext state on purpose: it shows who acts in reports, and
    // redacting common names (`root`, `admin`) would mangle every message that contains them.
    secretFields: credentialKeys,
    identityFields: ["url", "vm", "datacenter"],
    userDataLimit: {
        bytes: 524_288,
        source: "vSphere cloud-init guest customization: userdata at most 524288 bytes (vim.vm.customization.CloudinitPrep)",
    },
    supportsDeallocate: false,

    parseTarget(raw, field) {
        const obj = requireObject(raw, field);
        let url: URL | undefined;
        let username = "";
        let vm = "";
        let selector: VmSelector | undefined;
        let datacenter: string | undefined;
        let insecure = false;
        let caCert: string | undefined;
        return validateAll(
            [
                () => rejectUnknownKeys(obj, field, [...targetKeys, ...credentialKeys]),
                () => {
                    if (obj.password !== undefined)
                        throw new InputError(`${field}.password`, "belongs in the credentials (secret) input, not the target");
                },
                () => (url = normaliseSdkUrl(requireString(obj, "url", field, { secret: true }), `${field}.url`)),
                () => (username = requireString(obj, "username", field, { maxLength: 256 })),
                () => {
                    vm = requireString(obj, "vm", field, { maxLength: 2048 });
                    selector = parseVmSelector(vm, `${field}.vm`);
                },
                () =>
                    (datacenter = optionalString(obj, "datacenter", field, {
                        maxLength: 1024,
                        pattern: /^[^/].*[^/]$|^[^/]$/,
                        description: "a datacenter name or folder path without leading or trailing /",
                    })),
                () => (insecure = optionalBoolean(obj, "insecure", field) ?? false),
                () => (caCert = parseCaCert(obj.caCert, `${field}.caCert`)),
                () => checkTrustCombination({ insecure, caCert }, field),
            ],
            () => ({
                url: (url as URL).href,
                username,
                vm,
                selector: selector as VmSelector,
                ...(datacenter !== undefined ? { datacenter } : {}),
                insecure,
                ...(caCert !== undefined ? { caCert } : {}),
            }),
        );
    },

    parseCredentials(raw, field) {
        const obj = requireObject(raw ?? {}, field);
        return validateAll([() => rejectUnknownKeys(obj, field, credentialKeys)], () => ({
            // Any characters but control ones (spaces included): it travels XML-escaped.
            password: checkSecret(obj.password, `${field}.password`),
        }));
    },

    describe(target) {
        const host = new URL(target.url).host;
        const where = target.datacenter ? ` in ${target.datacenter}` : "";
        return `vsphere ${host} VM ${describeSelector(target.selector)}${where}${target.insecure ? " (TLS not verified)" : ""}`;
    },

    warnings(target) {
        if (!target.insecure) return [];
        return [
            `target.vsphere.insecure is true: the TLS certificate of ${new URL(target.url).host} is not verified, so anyone on the path can pose as vSphere and read the password; prefer caCert`,
        ];
    },
};
