import * as pulumi from "@pulumi/pulumi";
import { PlatformName } from "../src/drivers/platform";
import { vmPowerPolicyKeys } from "../src/providers/vmPower";

/**
 * The resource options of a component that must reach its power child. Pulumi passes only
 * `protect` and providers down to children by itself; without this, `retainOnDelete` on the
 * component would still shut the VM down on destroy, and `customTimeouts` would not bound the
 * child's create, update and delete.
 */
export function powerChildOptions(
    parent: pulumi.Resource,
    opts: pulumi.ComponentResourceOptions | undefined,
    platform: PlatformName,
    secretFields: readonly string[],
): pulumi.CustomResourceOptions {
    const childOptions: pulumi.CustomResourceOptions = { parent };
    if (!opts) return childOptions;
    return {
        ...childOptions,
        ...(opts.customTimeouts !== undefined ? { customTimeouts: opts.customTimeouts } : {}),
        ...(opts.retainOnDelete !== undefined ? { retainOnDelete: opts.retainOnDelete } : {}),
        ...(opts.deletedWith !== undefined ? { deletedWith: opts.deletedWith } : {}),
        ...(opts.ignoreChanges !== undefined ? { ignoreChanges: childPropertyPaths(opts.ignoreChanges, platform, secretFields) } : {}),
    };
}

/**
 * The component's property paths in the child's terms: `target.libvirt.domain` is the child's
 * `target.domain`, a secret such as `target.vsphere.password` its `credentials.password`; the
 * power policy keys keep their names. Guest-side arguments (`preStop`, `lifecycle`) only shape
 * the `userData` output and have no counterpart on the child.
 */
export function childPropertyPaths(paths: readonly string[], platform: PlatformName, secretFields: readonly string[]): string[] {
    const mapped: string[] = [];
    for (const path of paths) {
        const prefix = `target.${platform}`;
        if (path === "target" || path === prefix) {
            mapped.push("target", ...(secretFields.length > 0 ? ["credentials"] : []));
        } else if (path.startsWith(`${prefix}.`)) {
            const rest = path.slice(prefix.length + 1);
            const key = rest.split(/[.[]/, 1)[0];
            mapped.push(`${secretFields.includes(key) ? "credentials" : "target"}.${rest}`);
        } else if ((vmPowerPolicyKeys as readonly string[]).includes(path.split(/[.[]/, 1)[0])) {
            mapped.push(path);
        } else if (path === "*" || path === "**") {
            mapped.push(path);
        }
    }
    return mapped;
}
