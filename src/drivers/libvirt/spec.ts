import { PlatformSpec } from "../platform";
import { requireObject } from "../fields";

// STUB: replaced by the libvirt driver work. Validates nothing yet.
export type LibvirtTarget = Record<string, unknown>;
export type LibvirtCredentials = Record<string, unknown>;

export const libvirtSpec: PlatformSpec<LibvirtTarget, LibvirtCredentials> = {
    name: "libvirt",
    secretFields: [],
    identityFields: [],
    supportsDeallocate: false,
    parseTarget: (raw, field) => requireObject(raw, field),
    parseCredentials: (raw) => (raw ?? {}) as LibvirtCredentials,
    describe: (target) => `libvirt ${JSON.stringify(target)}`,
};
