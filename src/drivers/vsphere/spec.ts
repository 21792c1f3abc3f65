import { PlatformSpec } from "../platform";
import { requireObject } from "../fields";

// STUB: replaced by the vsphere driver work. Validates nothing yet.
export type VsphereTarget = Record<string, unknown>;
export type VsphereCredentials = Record<string, unknown>;

export const vsphereSpec: PlatformSpec<VsphereTarget, VsphereCredentials> = {
    name: "vsphere",
    secretFields: [],
    identityFields: [],
    supportsDeallocate: false,
    parseTarget: (raw, field) => requireObject(raw, field),
    parseCredentials: (raw) => (raw ?? {}) as VsphereCredentials,
    describe: (target) => `vsphere ${JSON.stringify(target)}`,
};
