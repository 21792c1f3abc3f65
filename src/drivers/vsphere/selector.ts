import { InputError } from "../../power/errors";

/** How `target.vsphere.vm` names the VM. */
export type VmSelector =
    | { readonly kind: "name"; readonly name: string }
    | { readonly kind: "path"; readonly path: string }
    | { readonly kind: "uuid"; readonly uuid: string }
    | { readonly kind: "moid"; readonly moid: string };

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const vcenterMoidPattern = /^vm-\d+$/;
const moidPattern = /^[A-Za-z0-9][A-Za-z0-9_.:-]*$/;
const prefixes = ["name", "path", "uuid", "moid"] as const;

/**
 * Tells the forms apart:
 * - `name:…`, `path:…`, `uuid:…`, `moid:…`: explicit, for anything the rules below would misread;
 * - contains `/`: an inventory path (`DC0/vm/folder/web-1`);
 * - `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`: an instance UUID, else a BIOS UUID;
 * - `vm-<digits>`: a vCenter managed object id (ESXi ids are bare numbers: write `moid:42`);
 * - anything else: the VM's name.
 */
export function parseVmSelector(text: string, field: string): VmSelector {
    const prefixed = /^([a-z]+):(.*)$/s.exec(text);
    const prefix = prefixed && (prefixes as readonly string[]).includes(prefixed[1]) ? prefixed[1] : undefined;
    const value = prefix !== undefined && prefixed ? prefixed[2] : text;
    if (value === "") throw new InputError(field, `names nothing after "${prefix}:"`);
    const kind =
        prefix ?? (value.includes("/") ? "path" : uuidPattern.test(value) ? "uuid" : vcenterMoidPattern.test(value) ? "moid" : "name");
    switch (kind) {
        case "path":
            if (value.startsWith("/") || value.endsWith("/") || value.includes("//")) {
                throw new InputError(
                    field,
                    `must be an inventory path like "DC0/vm/folder/web-1" (no leading, trailing or doubled "/"), got ${JSON.stringify(value)}`,
                );
            }
            return { kind, path: value };
        case "uuid":
            if (!uuidPattern.test(value))
                throw new InputError(
                    field,
                    `must be a UUID like 4211cb7c-1f0e-4e2a-9a5b-0123456789ab after "uuid:", got ${JSON.stringify(value)}`,
                );
            return { kind, uuid: value.toLowerCase() };
        case "moid":
            if (!moidPattern.test(value))
                throw new InputError(field, `must be a managed object id like vm-57 after "moid:", got ${JSON.stringify(value)}`);
            return { kind, moid: value };
        default:
            return { kind: "name", name: value };
    }
}

export function describeSelector(selector: VmSelector): string {
    switch (selector.kind) {
        case "name":
            return selector.name;
        case "path":
            return selector.path;
        case "uuid":
            return `uuid ${selector.uuid}`;
        case "moid":
            return selector.moid;
    }
}
