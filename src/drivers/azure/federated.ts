import * as fs from "fs";
import { AuthenticationError } from "../../power/errors";
import { AccessToken, CredentialUnavailableError, ManagedIdentityCredential, TokenCredential, clientCredentialsGrant } from "./credentials";
import { HttpClient } from "./http";

/**
 * Workload identity federation: Entra ID trades a token from another issuer (Kubernetes' service
 * account token, GitHub Actions' OIDC token) for an ARM token, so no secret is stored anywhere.
 * This is the client-credentials grant with a `client_assertion` instead of a `client_secret`.
 */

/** Gives the federated token (a JWT) to present; read anew for every grant, as issuers rotate it. */
export type AssertionSource = () => Promise<string>;

const jwtBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/** The audience Entra ID expects on federated tokens (GitHub's token request must ask for it). */
export const federatedAudience = "api://AzureADTokenExchange";

export class ClientAssertionCredential implements TokenCredential {
    constructor(
        private readonly http: HttpClient,
        private readonly authorityHost: string,
        private readonly tenantId: string,
        private readonly clientId: string,
        private readonly assertion: AssertionSource,
    ) {
        if (!authorityHost.startsWith("https://")) {
            throw new AuthenticationError(
                `the authority host ${authorityHost} must use https: a federated token is never sent in clear text`,
            );
        }
    }

    async getToken(scopes: string | string[]): Promise<AccessToken> {
        const assertion = await this.assertion();
        return clientCredentialsGrant(
            this.http,
            { authorityHost: this.authorityHost, tenantId: this.tenantId, clientId: this.clientId, scopes },
            { client_assertion_type: jwtBearer, client_assertion: assertion },
            `federated client ${this.clientId} in tenant ${this.tenantId}`,
        );
    }
}

/** A token file that a platform keeps fresh (AKS workload identity, `ARM_OIDC_TOKEN_FILE_PATH`). */
export function assertionFromFile(file: string, variable: string): AssertionSource {
    return () =>
        fs.promises.readFile(file, "utf8").then(
            (text) => {
                const token = text.trim();
                if (token === "") throw new AuthenticationError(`${variable}: the federated token file ${file} is empty`);
                return token;
            },
            (e: NodeJS.ErrnoException) => {
                throw new AuthenticationError(`${variable}: cannot read the federated token file ${file} (${e.code ?? e.message})`, {
                    cause: e,
                });
            },
        );
}

export function assertionFromValue(token: string): AssertionSource {
    return () => Promise.resolve(token);
}

/**
 * GitHub Actions' OIDC token request (`ACTIONS_ID_TOKEN_REQUEST_URL` with the bearer
 * `ACTIONS_ID_TOKEN_REQUEST_TOKEN`; azure-native calls them `ARM_OIDC_REQUEST_URL` and
 * `ARM_OIDC_REQUEST_TOKEN`): `GET {url}&audience=api://AzureADTokenExchange` answers `{"value": jwt}`.
 */
export function assertionFromTokenRequest(http: HttpClient, requestUrl: string, requestToken: string, source: string): AssertionSource {
    return async () => {
        let url: URL;
        try {
            url = new URL(requestUrl);
        } catch (e) {
            throw new AuthenticationError(`${source}: the OIDC token request URL is not a URL`, { cause: e });
        }
        if (url.protocol !== "https:")
            throw new AuthenticationError(`${source}: the OIDC token request URL must use https, not ${url.protocol}`);
        url.searchParams.set("audience", federatedAudience);
        const response = await http.send({
            method: "GET",
            url,
            headers: { Authorization: `Bearer ${requestToken}`, Accept: "application/json" },
        });
        let value: unknown;
        try {
            value = (JSON.parse(response.text) as { value?: unknown }).value;
        } catch {
            // Reported below with the status.
        }
        if (response.status !== 200 || typeof value !== "string" || value === "") {
            throw new AuthenticationError(
                `the OIDC token request to ${url.host} answered HTTP ${response.status} without a token; in GitHub Actions the job needs \`permissions: id-token: write\``,
            );
        }
        return value;
    };
}

/** `AZURE_FEDERATED_TOKEN_FILE` + `AZURE_CLIENT_ID` + `AZURE_TENANT_ID`, as AKS workload identity injects them. */
export class WorkloadIdentityCredential implements TokenCredential {
    constructor(
        private readonly http: HttpClient,
        private readonly defaultAuthorityHost: string,
        private readonly given: { readonly tenantId?: string; readonly clientId?: string; readonly tokenFile?: string } = {},
        private readonly env: NodeJS.ProcessEnv = process.env,
    ) {}

    getToken(scopes: string | string[]): Promise<AccessToken> {
        const tenant = this.given.tenantId ?? this.env.AZURE_TENANT_ID;
        const client = this.given.clientId ?? this.env.AZURE_CLIENT_ID;
        const file = this.given.tokenFile ?? this.env.AZURE_FEDERATED_TOKEN_FILE;
        if (!tenant || !client || !file) {
            const missing = [
                tenant ? undefined : "AZURE_TENANT_ID (or tenantId)",
                client ? undefined : "AZURE_CLIENT_ID (or clientId)",
                file ? undefined : "AZURE_FEDERATED_TOKEN_FILE (or federatedTokenFile)",
            ].filter((m): m is string => m !== undefined);
            return Promise.reject(new CredentialUnavailableError(`workload identity: ${missing.join(", ")} not set`));
        }
        const authority = authorityFrom(this.env.AZURE_AUTHORITY_HOST, this.defaultAuthorityHost);
        return new ClientAssertionCredential(
            this.http,
            authority,
            tenant,
            client,
            assertionFromFile(file, "AZURE_FEDERATED_TOKEN_FILE"),
        ).getToken(scopes);
    }
}

/** The OIDC settings of a target (`credential: "oidc"`), each falling back to azure-native's `ARM_*` variable. */
export interface OidcSettings {
    readonly tenantId?: string;
    readonly clientId?: string;
    readonly oidcToken?: string;
    readonly oidcTokenFilePath?: string;
    readonly oidcRequestUrl?: string;
    readonly oidcRequestToken?: string;
}

/**
 * OIDC federation as azure-native configures it: a token given directly (`ARM_OIDC_TOKEN`), in a
 * file (`ARM_OIDC_TOKEN_FILE_PATH`), or requested from GitHub Actions (`ARM_OIDC_REQUEST_URL` +
 * `ARM_OIDC_REQUEST_TOKEN`, or GitHub's own `ACTIONS_ID_TOKEN_REQUEST_*`).
 */
export class OidcCredential implements TokenCredential {
    constructor(
        private readonly http: HttpClient,
        private readonly defaultAuthorityHost: string,
        private readonly given: OidcSettings = {},
        private readonly env: NodeJS.ProcessEnv = process.env,
    ) {}

    getToken(scopes: string | string[]): Promise<AccessToken> {
        const env = this.env;
        const tenant = this.given.tenantId ?? env.ARM_TENANT_ID ?? env.AZURE_TENANT_ID;
        const client = this.given.clientId ?? env.ARM_CLIENT_ID ?? env.AZURE_CLIENT_ID;
        const token = this.given.oidcToken ?? env.ARM_OIDC_TOKEN;
        const file = this.given.oidcTokenFilePath ?? env.ARM_OIDC_TOKEN_FILE_PATH;
        const requestUrl = this.given.oidcRequestUrl ?? env.ARM_OIDC_REQUEST_URL ?? env.ACTIONS_ID_TOKEN_REQUEST_URL;
        const requestToken = this.given.oidcRequestToken ?? env.ARM_OIDC_REQUEST_TOKEN ?? env.ACTIONS_ID_TOKEN_REQUEST_TOKEN;
        let assertion: AssertionSource | undefined;
        if (token) assertion = assertionFromValue(token);
        else if (file) assertion = assertionFromFile(file, "ARM_OIDC_TOKEN_FILE_PATH");
        else if (requestUrl && requestToken) {
            const source =
                this.given.oidcRequestUrl !== undefined
                    ? "target.azure.oidcRequestUrl"
                    : env.ARM_OIDC_REQUEST_URL !== undefined
                      ? "ARM_OIDC_REQUEST_URL"
                      : "ACTIONS_ID_TOKEN_REQUEST_URL";
            assertion = assertionFromTokenRequest(this.http, requestUrl, requestToken, source);
        }
        if (!tenant || !client || !assertion) {
            const missing = [
                tenant ? undefined : "ARM_TENANT_ID (or tenantId)",
                client ? undefined : "ARM_CLIENT_ID (or clientId)",
                assertion
                    ? undefined
                    : "a token: ARM_OIDC_TOKEN, ARM_OIDC_TOKEN_FILE_PATH, or ARM_OIDC_REQUEST_URL + ARM_OIDC_REQUEST_TOKEN (GitHub Actions with id-token: write)",
            ].filter((m): m is string => m !== undefined);
            return Promise.reject(new CredentialUnavailableError(`OIDC: ${missing.join(", ")} not set`));
        }
        const authority = authorityFrom(env.ARM_AUTHORITY_HOST ?? env.AZURE_AUTHORITY_HOST, this.defaultAuthorityHost);
        return new ClientAssertionCredential(this.http, authority, tenant, client, assertion).getToken(scopes);
    }
}

/**
 * azure-native's (and Terraform azurerm's) `ARM_*` variables: `ARM_CLIENT_SECRET`, or
 * `ARM_USE_OIDC=true` with one of the OIDC token sources, or `ARM_USE_MSI=true`.
 */
export class ArmEnvironmentCredential implements TokenCredential {
    constructor(
        private readonly http: HttpClient,
        private readonly defaultAuthorityHost: string,
        private readonly env: NodeJS.ProcessEnv = process.env,
        private readonly clientSecretGrant: (
            authority: string,
            tenant: string,
            client: string,
            secret: string,
        ) => { getToken(scopes: string | string[]): Promise<AccessToken> },
    ) {}

    getToken(scopes: string | string[]): Promise<AccessToken> {
        const env = this.env;
        const authority = authorityFrom(env.ARM_AUTHORITY_HOST ?? env.AZURE_AUTHORITY_HOST, this.defaultAuthorityHost);
        if (env.ARM_CLIENT_SECRET) {
            if (!env.ARM_TENANT_ID || !env.ARM_CLIENT_ID) {
                const missing = ["ARM_TENANT_ID", "ARM_CLIENT_ID"].filter((n) => !env[n]);
                return Promise.reject(
                    new CredentialUnavailableError(`ARM_* variables: ARM_CLIENT_SECRET is set but ${missing.join(", ")} not`),
                );
            }
            return this.clientSecretGrant(authority, env.ARM_TENANT_ID, env.ARM_CLIENT_ID, env.ARM_CLIENT_SECRET).getToken(scopes);
        }
        if (isTrue(env.ARM_USE_OIDC)) return new OidcCredential(this.http, this.defaultAuthorityHost, {}, env).getToken(scopes);
        if (isTrue(env.ARM_USE_MSI)) return new ManagedIdentityCredential(this.http, env.ARM_CLIENT_ID, env).getToken(scopes);
        return Promise.reject(
            new CredentialUnavailableError(
                "ARM_* variables: none of ARM_CLIENT_SECRET, ARM_USE_OIDC=true or ARM_USE_MSI=true is set (with ARM_TENANT_ID and ARM_CLIENT_ID)",
            ),
        );
    }
}

function isTrue(value: string | undefined): boolean {
    return value !== undefined && /^(1|true|yes)$/i.test(value.trim());
}

function authorityFrom(fromEnv: string | undefined, fallback: string): string {
    return (fromEnv || fallback).replace(/\/+$/, "");
}
