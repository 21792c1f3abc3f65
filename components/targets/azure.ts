import * as pulumi from "@pulumi/pulumi";

/**
 * Names an Azure VM (`Microsoft.Compute/virtualMachines`) and how to reach Azure Resource
 * Manager. Power operations go over ARM with an Entra ID token; see docs/azure.md.
 *
 * `subscriptionId`, `resourceGroupName` and `vmName` say which VM it is: changing one of them
 * manages a different VM (the power resource is replaced, not updated).
 */
export interface AzureTargetArgs {
    /** The subscription that holds the VM, as a GUID. */
    readonly subscriptionId: pulumi.Input<string>;
    /** The VM's resource group. */
    readonly resourceGroupName: pulumi.Input<string>;
    /** The VM's resource name (not its computer name). */
    readonly vmName: pulumi.Input<string>;
    /**
     * The Entra ID tenant (GUID or domain) of the client secret, or to pass to the Azure CLI.
     * @default none: required with a client secret
     */
    readonly tenantId?: pulumi.Input<string>;
    /**
     * The application (client) id of the client secret, or of a user-assigned managed identity.
     * @default none: the system-assigned identity with `managedIdentity`
     */
    readonly clientId?: pulumi.Input<string>;
    /**
     * The client secret of the app registration `clientId`. Kept as a Pulumi secret: stored
     * encrypted, never logged; wrap it with `pulumi.secret()` or read it with `config.requireSecret()`.
     * @default none
     */
    readonly clientSecret?: pulumi.Input<string>;
    /**
     * Where the token comes from: `clientSecret` (the fields above); `environment`
     * (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET` where `pulumi` runs);
     * `workloadIdentity` (`AZURE_FEDERATED_TOKEN_FILE` as AKS injects it, or `federatedTokenFile`);
     * `oidc` (a federated token: `oidcToken`, `oidcTokenFilePath` or GitHub Actions' token request,
     * each defaulting to azure-native's `ARM_OIDC_*` variables); `armEnvironment` (azure-native's
     * `ARM_CLIENT_SECRET`, `ARM_USE_OIDC` or `ARM_USE_MSI` with `ARM_TENANT_ID`/`ARM_CLIENT_ID`);
     * `managedIdentity` (the identity of the machine or service running `pulumi`); `azureCli` (`az login`).
     * @default "clientSecret" when `clientSecret` is set, otherwise environment, workload identity,
     * the `ARM_*` variables, managed identity, the Azure CLI, then `@azure/identity`'s
     * DefaultAzureCredential if installed
     */
    readonly credential?: pulumi.Input<
        "clientSecret" | "environment" | "workloadIdentity" | "oidc" | "armEnvironment" | "managedIdentity" | "azureCli"
    >;
    /**
     * `workloadIdentity`: the file holding the federated token, re-read for every sign-in.
     * @default `AZURE_FEDERATED_TOKEN_FILE`
     */
    readonly federatedTokenFile?: pulumi.Input<string>;
    /**
     * `oidc`: the federated (OIDC) token itself. Kept as a Pulumi secret.
     * @default `ARM_OIDC_TOKEN`
     */
    readonly oidcToken?: pulumi.Input<string>;
    /**
     * `oidc`: a file holding the federated token.
     * @default `ARM_OIDC_TOKEN_FILE_PATH`
     */
    readonly oidcTokenFilePath?: pulumi.Input<string>;
    /**
     * `oidc`: GitHub Actions' token request URL (the job needs `permissions: id-token: write`).
     * @default `ARM_OIDC_REQUEST_URL`, then `ACTIONS_ID_TOKEN_REQUEST_URL`
     */
    readonly oidcRequestUrl?: pulumi.Input<string>;
    /**
     * `oidc`: the bearer for GitHub Actions' token request. Kept as a Pulumi secret.
     * @default `ARM_OIDC_REQUEST_TOKEN`, then `ACTIONS_ID_TOKEN_REQUEST_TOKEN`
     */
    readonly oidcRequestToken?: pulumi.Input<string>;
    /**
     * The Azure Resource Manager endpoint (origin only), for sovereign clouds
     * (`https://management.usgovcloudapi.net`, `https://management.chinacloudapi.cn`).
     * @default "https://management.azure.com"
     */
    readonly resourceManagerEndpoint?: pulumi.Input<string>;
    /**
     * The Entra ID authority (origin only), for sovereign clouds (`https://login.microsoftonline.us`).
     * @default "https://login.microsoftonline.com"
     */
    readonly authorityHost?: pulumi.Input<string>;
    /**
     * Extra PEM CA certificate(s) to trust for ARM and the authority, in addition to Node's
     * bundled roots: for Azure Stack Hub with a private CA, or a TLS-inspecting proxy.
     * @default Node's bundled roots only
     */
    readonly caCert?: pulumi.Input<string>;
}
