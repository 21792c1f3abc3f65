import {
    Fields,
    SecretRules,
    checkSecret,
    optionalOneOf,
    optionalString,
    rejectUnknownKeys,
    requireObject,
    requireString,
    requireUrl,
} from "../fields";
import { InputError, collectInputErrors, throwIfAny } from "../../power/errors";
import { PlatformSpec } from "../platform";
import { parseCaCert } from "../common/tls";

/** Where the driver gets its Entra ID (Azure AD) token for ARM. */
export const azureCredentialSources = [
    "clientSecret",
    "environment",
    "workloadIdentity",
    "oidc",
    "armEnvironment",
    "managedIdentity",
    "azureCli",
] as const;
export type AzureCredentialSource = (typeof azureCredentialSources)[number];

/** The non-secret half of an Azure target, as stored in plaintext state. */
export interface AzureTarget {
    readonly subscriptionId: string;
    readonly resourceGroupName: string;
    readonly vmName: string;
    readonly tenantId?: string;
    /** App registration (client secret) or user-assigned identity (managed identity). */
    readonly clientId?: string;
    /** Absent: a client secret if one is given, otherwise the chain environment → managed identity → Azure CLI. */
    readonly credential?: AzureCredentialSource;
    /** ARM endpoint, origin only. */
    readonly resourceManagerEndpoint: string;
    /** Entra ID authority, origin only. */
    readonly authorityHost: string;
    /** Extra PEM CA certificate(s) trusted for ARM and the authority (test or private clouds). */
    readonly caCert?: string;
    /** `workloadIdentity`: the federated token file (default `AZURE_FEDERATED_TOKEN_FILE`). */
    readonly federatedTokenFile?: string;
    /** `oidc`: a file holding the OIDC token (default `ARM_OIDC_TOKEN_FILE_PATH`). */
    readonly oidcTokenFilePath?: string;
    /** `oidc`: GitHub Actions' token request URL (default `ARM_OIDC_REQUEST_URL` / `ACTIONS_ID_TOKEN_REQUEST_URL`). */
    readonly oidcRequestUrl?: string;
}

/** The secret half: kept as a Pulumi secret, never logged. */
export interface AzureCredentials {
    readonly clientSecret?: string;
    /** `oidc`: the OIDC token itself (default `ARM_OIDC_TOKEN`). */
    readonly oidcToken?: string;
    /** `oidc`: the bearer for GitHub Actions' token request (default `ARM_OIDC_REQUEST_TOKEN`). */
    readonly oidcRequestToken?: string;
}

export const defaultResourceManagerEndpoint = "https://management.azure.com";
export const defaultAuthorityHost = "https://login.microsoftonline.com";
/** Azure forces a VM off roughly this long after a graceful powerOff began. */
export const azurePlatformShutdownLimitMs = 5 * 60_000;

const guid = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
// Microsoft.Compute/virtualMachines: 1-64 alphanumerics, underscores, periods and hyphens;
// starts alphanumeric, ends alphanumeric or underscore.
const vmNamePattern = /^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,62}[A-Za-z0-9_])?$/;
// Resource groups: 1-90 letters (Unicode), digits, underscores, parentheses, hyphens, periods; no trailing period.
const resourceGroupPattern = /^[\p{L}\p{N}_().-]{0,89}[\p{L}\p{N}_()-]$/u;
// Tenants are GUIDs or verified domain names (contoso.onmicrosoft.com).
const tenantPattern =
    /^(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+)$/;

const targetKeys = [
    "subscriptionId",
    "resourceGroupName",
    "vmName",
    "tenantId",
    "clientId",
    "credential",
    "resourceManagerEndpoint",
    "authorityHost",
    "caCert",
    "federatedTokenFile",
    "oidcTokenFilePath",
    "oidcRequestUrl",
] as const;

export const azureSpec: PlatformSpec<AzureTarget, AzureCredentials> = {
    name: "azure",
    secretFields: ["clientSecret", "oidcToken", "oidcRequestToken"],
    identityFields: ["subscriptionId", "resourceGroupName", "vmName"],
    userDataLimit: {
        // The decoded customData, not its base64 text, is what Azure limits.
        bytes: 65_535,
        source: "Azure osProfile.customData: at most 65535 bytes once decoded (learn.microsoft.com, VirtualMachineOSProfile.customData)",
    },
    supportsDeallocate: true,

    parseTarget(raw, field) {
        const obj = requireObject(raw, field);
        const parsed: Record<string, unknown> = {};
        throwIfAny(
            collectInputErrors([
                () => rejectSecretsInTarget(obj, field),
                () => rejectUnknownKeys(obj, field, [...targetKeys]),
                () =>
                    (parsed.subscriptionId = requireString(obj, "subscriptionId", field, {
                        pattern: guid,
                        description: "a subscription GUID such as 00000000-0000-0000-0000-000000000000",
                    })),
                () =>
                    (parsed.resourceGroupName = requireString(obj, "resourceGroupName", field, {
                        pattern: resourceGroupPattern,
                        maxLength: 90,
                        description: "1-90 letters, digits, underscores, parentheses, hyphens or periods, not ending in a period",
                    })),
                () =>
                    (parsed.vmName = requireString(obj, "vmName", field, {
                        pattern: vmNamePattern,
                        maxLength: 64,
                        description:
                            "1-64 letters, digits, underscores, periods or hyphens, starting with a letter or digit and ending with a letter, digit or underscore",
                    })),
                () =>
                    (parsed.tenantId = optionalString(obj, "tenantId", field, {
                        pattern: tenantPattern,
                        description: "a tenant GUID or domain name",
                    })),
                () =>
                    (parsed.clientId = optionalString(obj, "clientId", field, {
                        pattern: guid,
                        description: "an application (client) GUID",
                    })),
                () => (parsed.credential = optionalOneOf(obj, "credential", field, azureCredentialSources)),
                () =>
                    (parsed.resourceManagerEndpoint =
                        optionalOrigin(obj, "resourceManagerEndpoint", field) ?? defaultResourceManagerEndpoint),
                () => (parsed.authorityHost = optionalOrigin(obj, "authorityHost", field) ?? defaultAuthorityHost),
                () => (parsed.caCert = parseCaCert(obj.caCert, `${field}.caCert`)),
                () => (parsed.federatedTokenFile = optionalAbsolutePath(obj, "federatedTokenFile", field)),
                () => (parsed.oidcTokenFilePath = optionalAbsolutePath(obj, "oidcTokenFilePath", field)),
                () => (parsed.oidcRequestUrl = optionalHttpsUrl(obj, "oidcRequestUrl", field)),
            ]),
        );
        // Cross-field rules only once each field is valid on its own, so messages do not pile up.
        if (parsed.credential === "clientSecret" && (parsed.tenantId === undefined || parsed.clientId === undefined)) {
            throw new InputError(
                `${field}.${parsed.tenantId === undefined ? "tenantId" : "clientId"}`,
                'is required with credential "clientSecret"',
            );
        }
        return Object.fromEntries(Object.entries(parsed).filter(([, v]) => v !== undefined)) as unknown as AzureTarget;
    },

    parseCredentials(raw, field) {
        if (raw === undefined || raw === null) return {};
        const obj = requireObject(raw, field);
        rejectUnknownKeys(obj, field, azureSpec.secretFields);
        const parsed: Record<string, string | undefined> = {};
        const optionalSecret = (key: string, rules: SecretRules): string | undefined =>
            obj[key] === undefined || obj[key] === null ? undefined : checkSecret(obj[key], `${field}.${key}`, rules);
        throwIfAny(
            collectInputErrors([
                () => (parsed.clientSecret = optionalSecret("clientSecret", { trimmed: true })),
                () => (parsed.oidcToken = optionalSecret("oidcToken", tokenRules)),
                () => (parsed.oidcRequestToken = optionalSecret("oidcRequestToken", tokenRules)),
            ]),
        );
        return Object.fromEntries(Object.entries(parsed).filter(([, v]) => v !== undefined)) as AzureCredentials;
    },

    describe: (target) => `azure subscription ${target.subscriptionId} resource group ${target.resourceGroupName} VM ${target.vmName}`,

    warnings(_target, gracefulTimeoutMs) {
        if (gracefulTimeoutMs <= azurePlatformShutdownLimitMs) return [];
        return [
            `gracefulShutdownTimeout is ${Math.round(gracefulTimeoutMs / 1000)}s, but Azure forces a VM off about ${azurePlatformShutdownLimitMs / 60_000} minutes after a graceful powerOff starts: the guest will be cut short at that point, not at your timeout`,
        ];
    },
};

/** Federated and request tokens: opaque, non-empty, without spaces; JWTs are a few kB at most. */
/** OIDC tokens travel in headers and form bodies: visible ASCII, no spaces. */
const tokenRules: SecretRules = { maxLength: 16_384, header: true };

/** A secret in the target would land in plaintext state; GracefulVm moves it, VmPower users must. */
function rejectSecretsInTarget(obj: Fields, field: string): void {
    for (const key of azureSpec.secretFields) {
        if (obj[key] !== undefined && obj[key] !== null) {
            throw new InputError(`${field}.${key}`, "is a secret: pass it in `credentials`, not in `target`, so it is stored encrypted");
        }
    }
}

/** An https origin (scheme, host, port): paths would be silently dropped, so they are refused. */
function optionalOrigin(obj: Fields, key: string, field: string): string | undefined {
    if (obj[key] === undefined || obj[key] === null) return undefined;
    const url = requireUrl(obj, key, field, ["https:"]);
    if ((url.pathname !== "/" && url.pathname !== "") || url.search || url.hash) {
        throw new InputError(
            `${field}.${key}`,
            `must be an origin such as https://management.azure.com, without a path or query; got ${JSON.stringify(url.origin + url.pathname)}`,
        );
    }
    return url.origin;
}

/** A path on the machine that runs `pulumi` or the CLI; relative paths would depend on the cwd. */
function optionalAbsolutePath(obj: Fields, key: string, field: string): string | undefined {
    const value = optionalString(obj, key, field, { maxLength: 4096 });
    if (value !== undefined && !value.startsWith("/") && !/^[A-Za-z]:[\\/]/.test(value)) {
        throw new InputError(`${field}.${key}`, `must be an absolute path; got ${JSON.stringify(value)}`);
    }
    return value;
}

function optionalHttpsUrl(obj: Fields, key: string, field: string): string | undefined {
    if (obj[key] === undefined || obj[key] === null) return undefined;
    return requireUrl(obj, key, field, ["https:"]).href;
}
