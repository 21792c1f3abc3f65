import { PlatformSpec } from "../platform";
import { requireObject } from "../fields";

// STUB: replaced by the azure driver work. Validates nothing yet.
export type AzureTarget = Record<string, unknown>;
export type AzureCredentials = Record<string, unknown>;

export const azureSpec: PlatformSpec<AzureTarget, AzureCredentials> = {
    name: "azure",
    secretFields: [],
    identityFields: [],
    supportsDeallocate: true,
    parseTarget: (raw, field) => requireObject(raw, field),
    parseCredentials: (raw) => (raw ?? {}) as AzureCredentials,
    describe: (target) => `azure ${JSON.stringify(target)}`,
};
