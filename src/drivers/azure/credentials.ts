import { execFile } from "child_process";
import { AuthenticationError, InputError } from "../../power/errors";
import { Redactor } from "../common/redact";
import { HttpClient, HttpResponse, TransportError } from "./http";

/**
 * Entra ID tokens for ARM without the Azure SDK. Any object shaped like `@azure/core-auth`'s
 * `TokenCredential` works, so `@azure/identity` credentials plug in unchanged when installed.
 */
export interface AccessToken {
    readonly token: string;
    /** Epoch milliseconds. */
    readonly expiresOnTimestamp: number;
}

export interface TokenCredential {
    getToken(scopes: string | string[]): Promise<AccessToken | null>;
}

/** This source has nothing to offer here (no variables, no identity endpoint, no `az`): try the next. */
export class CredentialUnavailableError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "CredentialUnavailableError";
    }
}

interface TokenReply {
    access_token?: unknown;
    expires_in?: unknown;
    expires_on?: unknown;
    error?: unknown;
    error_description?: unknown;
}

/** OAuth2 client-credentials grant against `{authorityHost}/{tenant}/oauth2/v2.0/token`. */
export class ClientSecretCredential implements TokenCredential {
    constructor(
        private readonly http: HttpClient,
        private readonly authorityHost: string,
        private readonly tenantId: string,
        private readonly clientId: string,
        private readonly clientSecret: string,
    ) {
        requireTls(authorityHost, "authorityHost");
    }

    getToken(scopes: string | string[]): Promise<AccessToken> {
        return clientCredentialsGrant(
            this.http,
            { authorityHost: this.authorityHost, tenantId: this.tenantId, clientId: this.clientId, scopes },
            { client_secret: this.clientSecret },
            `client ${this.clientId} in tenant ${this.tenantId}`,
        );
    }
}

/**
 * The OAuth2 client-credentials grant at `{authorityHost}/{tenant}/oauth2/v2.0/token`, proving
 * the client with a secret or a federated assertion (`proof`); the proof is scrubbed from errors.
 */
export async function clientCredentialsGrant(
    http: HttpClient,
    client: { readonly authorityHost: string; readonly tenantId: string; readonly clientId: string; readonly scopes: string | string[] },
    proof: Record<string, string>,
    principal: string,
): Promise<AccessToken> {
    const url = new URL(`${client.authorityHost}/${encodeURIComponent(client.tenantId)}/oauth2/v2.0/token`);
    const body = new URLSearchParams({
        grant_type: "client_credentials",
        client_id: client.clientId,
        ...proof,
        scope: ([] as string[]).concat(client.scopes).join(" "),
    }).toString();
    const response = await http.send({ method: "POST", url, body, headers: { "Content-Type": "application/x-www-form-urlencoded" } });
    return tokenFrom(response, principal, Object.values(proof));
}

/** `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET` (and `AZURE_AUTHORITY_HOST`), read when first used. */
export class EnvironmentCredential implements TokenCredential {
    constructor(
        private readonly http: HttpClient,
        private readonly defaultAuthorityHost: string,
        private readonly env: NodeJS.ProcessEnv = process.env,
    ) {}

    getToken(scopes: string | string[]): Promise<AccessToken> {
        const { AZURE_TENANT_ID: tenant, AZURE_CLIENT_ID: client, AZURE_CLIENT_SECRET: secret } = this.env;
        if (!tenant || !client || !secret) {
            const missing = ["AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"].filter((n) => !this.env[n]);
            return Promise.reject(new CredentialUnavailableError(`environment credential: ${missing.join(", ")} not set`));
        }
        const authority = (this.env.AZURE_AUTHORITY_HOST || this.defaultAuthorityHost).replace(/\/+$/, "");
        return new ClientSecretCredential(this.http, authority, tenant, client, secret).getToken(scopes);
    }
}

/**
 * Managed identity: App Service / Functions / Arc style (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`)
 * when those variables are set, otherwise the VM's instance metadata service (IMDS), whose
 * address `AZURE_POD_IDENTITY_AUTHORITY_HOST` overrides as in `@azure/identity`.
 */
export class ManagedIdentityCredential implements TokenCredential {
    constructor(
        private readonly http: HttpClient,
        private readonly clientId: string | undefined,
        private readonly env: NodeJS.ProcessEnv = process.env,
    ) {}

    async getToken(scopes: string | string[]): Promise<AccessToken> {
        const resource = resourceFromScopes(scopes);
        const { IDENTITY_ENDPOINT: endpoint, IDENTITY_HEADER: secretHeader } = this.env;
        let url: URL;
        let headers: Record<string, string>;
        if (endpoint && secretHeader) {
            url = new URL(endpoint);
            url.searchParams.set("api-version", "2019-08-01");
            headers = { "X-IDENTITY-HEADER": secretHeader };
        } else {
            const imds = (this.env.AZURE_POD_IDENTITY_AUTHORITY_HOST || "http://169.254.169.254").replace(/\/+$/, "");
            url = new URL(`${imds}/metadata/identity/oauth2/token`);
            url.searchParams.set("api-version", "2018-02-01");
            headers = { Metadata: "true" };
        }
        url.searchParams.set("resource", resource);
        if (this.clientId) url.searchParams.set("client_id", this.clientId);
        let response: HttpResponse;
        try {
            response = await this.http.send({ method: "GET", url, headers, signal: AbortSignal.timeout(imdsProbeTimeoutMs) });
        } catch (e) {
            throw new CredentialUnavailableError(
                `managed identity: no identity endpoint answered at ${url.host} (${e instanceof Error ? e.message : String(e)})`,
            );
        }
        if (response.status === 400 && /identity not found|no managed identity/i.test(response.text)) {
            throw new CredentialUnavailableError(
                `managed identity: this machine has no ${this.clientId ? `identity with client id ${this.clientId}` : "managed identity"}`,
            );
        }
        return tokenFrom(response, `managed identity${this.clientId ? ` ${this.clientId}` : ""}`, secretHeader ? [secretHeader] : []);
    }
}

const imdsProbeTimeoutMs = 5_000;
const azureCliTimeoutMs = 30_000;

/** The signed-in Azure CLI (`az account get-access-token`). */
export class AzureCliCredential implements TokenCredential {
    constructor(
        private readonly tenantId: string | undefined,
        private readonly command = "az",
    ) {}

    getToken(scopes: string | string[]): Promise<AccessToken> {
        const args = ["account", "get-access-token", "--output", "json", "--resource", resourceFromScopes(scopes)];
        if (this.tenantId) args.push("--tenant", this.tenantId);
        return new Promise<AccessToken>((resolve, reject) => {
            execFile(this.command, args, { timeout: azureCliTimeoutMs, windowsHide: true }, (error, stdout, stderr) => {
                if (error) {
                    const notInstalled = (error as NodeJS.ErrnoException).code === "ENOENT";
                    const firstLine =
                        String(stderr)
                            .split("\n")
                            .find((l) => l.trim() !== "") ?? error.message;
                    if (notInstalled) return reject(new CredentialUnavailableError("Azure CLI: `az` is not installed or not on PATH"));
                    if (/az login/i.test(String(stderr)))
                        return reject(new CredentialUnavailableError(`Azure CLI: not signed in; run \`az login\` (${firstLine.trim()})`));
                    return reject(new AuthenticationError(`Azure CLI could not get a token: ${firstLine.trim()}`));
                }
                try {
                    const parsed = JSON.parse(stdout) as { accessToken?: unknown; expires_on?: unknown; expiresOn?: unknown };
                    if (typeof parsed.accessToken !== "string") throw new Error("no accessToken");
                    const expires =
                        parsed.expires_on !== undefined ? Number(parsed.expires_on) * 1000 : Date.parse(String(parsed.expiresOn));
                    resolve({
                        token: parsed.accessToken,
                        expiresOnTimestamp: Number.isFinite(expires) ? expires : Date.now() + 5 * 60_000,
                    });
                } catch {
                    reject(
                        new AuthenticationError(
                            "Azure CLI printed something that is not a token (az account get-access-token --output json)",
                        ),
                    );
                }
            });
        });
    }
}

/** Tries each source in turn; the first that is available decides (a refusal is final). */
export class ChainedCredential implements TokenCredential {
    constructor(private readonly sources: ReadonlyArray<{ name: string; credential: TokenCredential }>) {}

    async getToken(scopes: string | string[]): Promise<AccessToken> {
        const reasons: string[] = [];
        for (const { name, credential } of this.sources) {
            try {
                const token = await credential.getToken(scopes);
                if (token) return token;
                reasons.push(`${name}: no token`);
            } catch (e) {
                if (!(e instanceof CredentialUnavailableError)) throw e;
                reasons.push(e.message);
            }
        }
        throw new AuthenticationError(
            `no Azure credential is available; set target.azure.credential (clientSecret, environment, workloadIdentity, oidc, armEnvironment, managedIdentity, azureCli) or provide one of these. Tried, in order: ${reasons.join("; ")}`,
        );
    }
}

/** Keeps a token until shortly before it expires; `invalidate` after ARM refused it. */
export class CachedToken {
    private cached?: AccessToken;
    private pending?: Promise<AccessToken>;

    constructor(
        private readonly credential: TokenCredential,
        private readonly scope: string,
        private readonly now: () => number = Date.now,
        /** Told every token obtained, so it is scrubbed from errors and logs from then on. */
        private readonly onToken?: (token: string) => void,
    ) {}

    async get(): Promise<string> {
        if (this.cached && this.cached.expiresOnTimestamp - refreshMarginMs > this.now()) return this.cached.token;
        // One refresh at a time: the background operation poller and waitForState share this.
        this.pending ??= this.fetch().finally(() => (this.pending = undefined));
        return (await this.pending).token;
    }

    invalidate(): void {
        this.cached = undefined;
    }

    private async fetch(): Promise<AccessToken> {
        const token = await this.credential.getToken(this.scope);
        if (!token || typeof token.token !== "string" || token.token === "") {
            throw new AuthenticationError("the Azure credential returned no token");
        }
        this.onToken?.(token.token);
        this.cached = token;
        return token;
    }
}

const refreshMarginMs = 2 * 60_000;

/** `https://management.azure.com/.default` → `https://management.azure.com/` (v1 "resource"). */
export function resourceFromScopes(scopes: string | string[]): string {
    const scope = ([] as string[]).concat(scopes)[0] ?? "";
    return scope.replace(/\.default$/, "");
}

function requireTls(origin: string, field: string): void {
    if (!origin.startsWith("https://"))
        throw new InputError(`target.azure.${field}`, "must use https: a client secret is never sent in clear text");
}

/** Reads a token reply; errors name the principal and the Entra error code, never a secret. */
export function tokenFrom(response: HttpResponse, principal: string, secrets: readonly string[]): AccessToken {
    let body: TokenReply = {};
    try {
        body = JSON.parse(response.text) as TokenReply;
    } catch {
        // Reported below with the status.
    }
    if (response.status === 200 && typeof body.access_token === "string" && body.access_token !== "") {
        const expiresIn = Number(body.expires_in);
        const expiresOn = Number(body.expires_on);
        const expiresOnTimestamp =
            Number.isFinite(expiresOn) && expiresOn > 0
                ? expiresOn * 1000
                : Date.now() + (Number.isFinite(expiresIn) ? expiresIn : 300) * 1000;
        return { token: body.access_token, expiresOnTimestamp };
    }
    const code = typeof body.error === "string" ? body.error : `HTTP ${response.status}`;
    const description = typeof body.error_description === "string" ? body.error_description.split(/\r?\n/)[0] : "";
    let message = `Entra ID refused a token for ${principal}: ${code}${description ? ` (${description})` : ""}`;
    message = new Redactor(secrets).scrub(message);
    if (response.status >= 500) throw new TransportError(message);
    throw new AuthenticationError(message);
}
