import { PlatformSpec } from "../platform";
import { requireObject } from "../fields";

// STUB: replaced by the proxmox driver work. Validates nothing yet.
export type ProxmoxTarget = Record<string, unknown>;
export type ProxmoxCredentials = Record<string, unknown>;

export const proxmoxSpec: PlatformSpec<ProxmoxTarget, ProxmoxCredentials> = {
    name: "proxmox",
    secretFields: [],
    identityFields: [],
    supportsDeallocate: false,
    parseTarget: (raw, field) => requireObject(raw, field),
    parseCredentials: (raw) => (raw ?? {}) as ProxmoxCredentials,
    describe: (target) => `proxmox ${JSON.stringify(target)}`,
};
