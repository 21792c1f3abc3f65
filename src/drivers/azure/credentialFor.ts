import { AuthenticationError, InputError } from "../../power/errors";
import {
    AzureCliCredential,
    ChainedCredential,
    ClientSecretCredential,
    CredentialUnavailableError,
    EnvironmentCredential,
    ManagedIdentityCredential,
    TokenCredential,
} from "./credentials";
import { ArmEnvironmentCredential, OidcCredential, WorkloadIdentityCredential } from "./federated";
import { HttpClient } from "./http";
import { AzureCredentials, AzureTarget } from "./spec";

/**
 * Builds the credential the target asks for; without a choice, the chain tries the sources in the
 * order `@azure/identity`'s DefaultAzureCredential does, with azure-native's `ARM_*` variables
 * after the `AZURE_*` ones. `scope` is `{resourceManagerEndpoint}/.default`.
 */
export function credentialFor(target: AzureTarget, credentials: AzureCredentials, http: HttpClient): TokenCredential {
    const field = "target.azure";
    const source = target.credential ?? (credentials.clientSecret !== undefined ? "clientSecret" : undefined);
    if (credentials.clientSecret !== undefined && source !== "clientSecret") {
        throw new InputError(`${field}.clientSecret`, `is only used with credential "clientSecret", but credential is "${source}"`);
    }
    const oidcGiven = credentials.oidcToken !== undefined || credentials.oidcRequestToken !== undefined;
    if (oidcGiven && source !== "oidc") {
        const key = credentials.oidcToken !== undefined ? "oidcToken" : "oidcRequestToken";
        throw new InputError(
            `${field}.${key}`,
            `is only used with credential "oidc", but credential is "${source ?? "the default chain"}"`,
        );
    }
    switch (source) {
        case "clientSecret":
            if (credentials.clientSecret === undefined)
                throw new InputError(`${field}.clientSecret`, 'is required with credential "clientSecret"');
            if (!target.tenantId) throw new InputError(`${field}.tenantId`, "is required with a client secret");
            if (!target.clientId) throw new InputError(`${field}.clientId`, "is required with a client secret");
            return new ClientSecretCredential(http, target.authorityHost, target.tenantId, target.clientId, credentials.clientSecret);
        case "environment":
            return required(new EnvironmentCredential(http, target.authorityHost));
        case "workloadIdentity":
            return required(
                new WorkloadIdentityCredential(http, target.authorityHost, {
                    tenantId: target.tenantId,
                    clientId: target.clientId,
                    tokenFile: target.federatedTokenFile,
                }),
            );
        case "oidc":
            return required(
                new OidcCredential(http, target.authorityHost, {
                    tenantId: target.tenantId,
                    clientId: target.clientId,
                    oidcToken: credentials.oidcToken,
                    oidcTokenFilePath: target.oidcTokenFilePath,
                    oidcRequestUrl: target.oidcRequestUrl,
                    oidcRequestToken: credentials.oidcRequestToken,
                }),
            );
        case "armEnvironment":
            return required(armEnvironment(http, target.authorityHost));
        case "managedIdentity":
            return required(new ManagedIdentityCredential(http, target.clientId));
        case "azureCli":
            return required(new AzureCliCredential(target.tenantId));
        case undefined:
            return new ChainedCredential([
                { name: "environment", credential: new EnvironmentCredential(http, target.authorityHost) },
                { name: "workloadIdentity", credential: new WorkloadIdentityCredential(http, target.authorityHost) },
                { name: "armEnvironment", credential: armEnvironment(http, target.authorityHost) },
                { name: "managedIdentity", credential: new ManagedIdentityCredential(http, target.clientId) },
                { name: "azureCli", credential: new AzureCliCredential(target.tenantId) },
                ...optionalAzureIdentity(),
            ]);
    }
}

function armEnvironment(http: HttpClient, authorityHost: string): ArmEnvironmentCredential {
    return new ArmEnvironmentCredential(
        http,
        authorityHost,
        process.env,
        (authority, tenant, client, secret) => new ClientSecretCredential(http, authority, tenant, client, secret),
    );
}

/** A source the user chose explicitly: its absence is an authentication failure, not a cue to try another. */
function required(credential: TokenCredential): TokenCredential {
    return {
        async getToken(scopes) {
            try {
                return await credential.getToken(scopes);
            } catch (e) {
                if (e instanceof CredentialUnavailableError) throw new AuthenticationError(e.message, { cause: e });
                throw e;
            }
        },
    };
}

/** `@azure/identity`'s DefaultAzureCredential as the chain's last resort, if the user installed it. */
function optionalAzureIdentity(): Array<{ name: string; credential: TokenCredential }> {
    let loaded: { DefaultAzureCredential?: new () => TokenCredential };
    try {
        loaded = require(require.resolve("@azure/identity", { paths: [process.cwd()] })) as typeof loaded;
    } catch {
        return [];
    }
    if (typeof loaded.DefaultAzureCredential !== "function") return [];
    const Default = loaded.DefaultAzureCredential;
    return [
        {
            name: "@azure/identity DefaultAzureCredential",
            credential: {
                async getToken(scopes) {
                    try {
                        return await new Default().getToken(scopes);
                    } catch (e) {
                        // Its own "unavailable" errors carry names like CredentialUnavailableError.
                        throw new CredentialUnavailableError(
                            `@azure/identity: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}`,
                        );
                    }
                },
            },
        },
    ];
}
