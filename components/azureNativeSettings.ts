import * as pulumi from "@pulumi/pulumi";
import type { AzureConnectionArgs } from "./azureVm";

/**
 * The sign-in half of `@pulumi/azure-native`'s provider settings (its `ProviderArgs`, or the
 * `azure-native:*` stack configuration), so a stack that already signs azure-native in does
 * not configure us a second time.
 */
export interface AzureNativeSignInSettings {
    /** `azure-native:clientId`. @default none */
    readonly clientId?: pulumi.Input<string>;
    /** `azure-native:tenantId`. @default none */
    readonly tenantId?: pulumi.Input<string>;
    /** `azure-native:clientSecret` (secret). @default none */
    readonly clientSecret?: pulumi.Input<string>;
    /** `azure-native:useOidc`. @default false */
    readonly useOidc?: pulumi.Input<boolean>;
    /** `azure-native:oidcToken` (secret). @default `ARM_OIDC_TOKEN` */
    readonly oidcToken?: pulumi.Input<string>;
    /** `azure-native:oidcTokenFilePath`. @default `ARM_OIDC_TOKEN_FILE_PATH` */
    readonly oidcTokenFilePath?: pulumi.Input<string>;
    /** `azure-native:oidcRequestUrl`. @default `ARM_OIDC_REQUEST_URL` */
    readonly oidcRequestUrl?: pulumi.Input<string>;
    /** `azure-native:oidcRequestToken` (secret). @default `ARM_OIDC_REQUEST_TOKEN` */
    readonly oidcRequestToken?: pulumi.Input<string>;
    /** `azure-native:useMsi`. @default false */
    readonly useMsi?: pulumi.Input<boolean>;
    /** `azure-native:environment`: `public`, `usgovernment` or `china`. @default "public" */
    readonly environment?: pulumi.Input<string>;
}

type AzureCredentialChoice = "clientSecret" | "oidc" | "managedIdentity" | undefined;

const clouds: Record<string, { resourceManagerEndpoint: string; authorityHost: string }> = {
    public: { resourceManagerEndpoint: "https://management.azure.com", authorityHost: "https://login.microsoftonline.com" },
    usgovernment: { resourceManagerEndpoint: "https://management.usgovcloudapi.net", authorityHost: "https://login.microsoftonline.us" },
    china: { resourceManagerEndpoint: "https://management.chinacloudapi.cn", authorityHost: "https://login.chinacloudapi.cn" },
};

/**
 * Our connection arguments from azure-native's settings: a client secret, OIDC (`useOidc`) or a
 * managed identity (`useMsi`), else the default chain, which also reads the `ARM_*` variables.
 * Pass an explicit azure-native provider's arguments: `azure: azureConnectionFromAzureNative(args)`.
 */
export function azureConnectionFromAzureNative(settings: AzureNativeSignInSettings): AzureConnectionArgs {
    const credential = pulumi
        .all([settings.clientSecret, settings.useOidc, settings.useMsi])
        .apply(([secret, oidc, msi]): AzureCredentialChoice =>
            secret ? "clientSecret" : oidc ? "oidc" : msi ? "managedIdentity" : undefined,
        );
    const cloud = pulumi.output(settings.environment).apply((name) => {
        const key = (name ?? "public").toLowerCase();
        const found = clouds[key];
        if (!found) throw new Error(`azure-native environment ${JSON.stringify(name)} is not one of ${Object.keys(clouds).join(", ")}`);
        return found;
    });
    return {
        clientId: settings.clientId,
        tenantId: settings.tenantId,
        clientSecret: settings.clientSecret,
        // An Output resolving to undefined leaves the choice to the chain. Which source is used
        // is our own derived name, not the secret: it is readable in state.
        credential: pulumi.unsecret(credential) as pulumi.Output<Exclude<AzureCredentialChoice, undefined>>,
        oidcToken: settings.oidcToken,
        oidcTokenFilePath: settings.oidcTokenFilePath,
        oidcRequestUrl: settings.oidcRequestUrl,
        oidcRequestToken: settings.oidcRequestToken,
        resourceManagerEndpoint: cloud.apply((c) => c.resourceManagerEndpoint),
        authorityHost: cloud.apply((c) => c.authorityHost),
    };
}

/** The `azure-native:*` stack configuration, or undefined when the stack sets none of it. */
export function azureNativeStackSettings(): AzureNativeSignInSettings | undefined {
    const config = new pulumi.Config("azure-native");
    const settings: AzureNativeSignInSettings = {
        clientId: config.get("clientId"),
        tenantId: config.get("tenantId"),
        clientSecret: config.getSecret("clientSecret"),
        useOidc: config.getBoolean("useOidc"),
        oidcToken: config.getSecret("oidcToken"),
        oidcTokenFilePath: config.get("oidcTokenFilePath"),
        oidcRequestUrl: config.get("oidcRequestUrl"),
        oidcRequestToken: config.getSecret("oidcRequestToken"),
        useMsi: config.getBoolean("useMsi"),
        environment: config.get("environment"),
    };
    const given = Object.entries(settings).filter(([, value]) => value !== undefined);
    return given.length > 0 ? (Object.fromEntries(given) as AzureNativeSignInSettings) : undefined;
}
