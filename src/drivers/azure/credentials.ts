import { execFile } from "child_process";
import { Clock, systemClock } from "../../power/clock";
import { AuthenticationError, InputError } from "../../power/errors";
import { boundedCall, isTransientFailure } from "../common/boundedCall";
import { Redactor } from "../common/redact";
import { HttpClient, HttpResponse, TransportError, retryAfterMs } from "./http";

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

/** How a token request is bounded and retried. */
export interface SignInOptions {
    readonly clock: Clock;
    /** One token request's wall-clock bound; retries start within one such bound of the first try. */
    readonly timeoutMs: number;
    readonly log?: (message: string) => void;
}

/**
 * One token for everyone who asks: kept until shortly before it expires, fetched once for
 * concurrent callers, refreshed once when ARM refuses it (however many callers saw the refusal).
 * The sign-in is retried when the token endpoint cannot be reached (a TLS handshake that never
 * finishes, a reset, 5xx, 429 with `Retry-After`); a refusal (a wrong secret, an unknown client)
 * is final: every later caller gets it without another request, which could lock the account.
 */
export class CachedToken {
    private cached?: { readonly token: AccessToken; readonly marginMs: number };
    private pending?: Promise<AccessToken>;
    private refused?: unknown;
    private readonly signIn: SignInOptions;

    constructor(
        private readonly credential: TokenCredential,
        private readonly scope: string,
        private readonly now: () => number = Date.now,
        /** Told every token obtained, so it is scrubbed from errors and logs from then on. */
        private readonly onToken?: (token: string) => void,
        signIn: Partial<SignInOptions> = {},
    ) {
        this.signIn = { clock: signIn.clock ?? systemClock, timeoutMs: signIn.timeoutMs ?? defaultSignInTimeoutMs, log: signIn.log };
    }

    async get(): Promise<string> {
        if (this.refused !== undefined) throw this.refused;
        const cached = this.cached;
        if (cached && cached.token.expiresOnTimestamp - cached.marginMs > this.now()) return cached.token.token;
        // One request at a time: every VM of a session, the background operation poller and
        // the waits share it.
        this.pending ??= this.fetch().finally(() => (this.pending = undefined));
        return (await this.pending).token;
    }

    /**
     * ARM refused `token` (expired, revoked): the next `get` fetches a new one. A refusal of a
     * token already replaced changes nothing, so many callers refused at once cause one refresh.
     */
    invalidate(token?: string): void {
        if (token === undefined || this.cached?.token.token === token) this.cached = undefined;
    }

    private async fetch(): Promise<AccessToken> {
        const { clock, timeoutMs, log } = this.signIn;
        const fetchedAt = this.now();
        let token: AccessToken | null;
        try {
            token = await boundedCall(
                {
                    op: "sign-in",
                    clock,
                    timeoutMs,
                    retries: signInRetries,
                    deadline: clock.now() + timeoutMs,
                    transient: (e) => {
                        const retry = isSignInTransient(e);
                        if (retry) log?.(`sign-in: ${e instanceof Error ? e.message : String(e)}; trying again`);
                        return retry;
                    },
                },
                () => this.credential.getToken(this.scope),
            );
        } catch (e) {
            if (!isSignInTransient(e)) this.refused = e;
            throw e;
        }
        if (!token || typeof token.token !== "string" || token.token === "") {
            this.refused = new AuthenticationError("the Azure credential returned no token");
            throw this.refused;
        }
        this.onToken?.(token.token);
        // Refreshed a quarter of its lifetime early (at most 2 minutes): short-lived tokens too.
        const marginMs = Math.min(refreshMarginMs, Math.max(0, (token.expiresOnTimestamp - fetchedAt) / 4));
        this.cached = { token, marginMs };
        return token;
    }
}

/**
 * A token request worth repeating: the endpoint was unreachable, stalled, busy or failing. A
 * refusal, or a source that is not there (whose message may quote a connection error), is not.
 */
function isSignInTransient(error: unknown): boolean {
    if (error instanceof AuthenticationError || error instanceof CredentialUnavailableError) return false;
    return isTransientFailure(error);
}

const refreshMarginMs = 2 * 60_000;
const defaultSignInTimeoutMs = 20_000;
/** Tries after the first: a stalled handshake is given up at a third of the bound (http.ts). */
const signInRetries = 2;

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
    // Busy or failing, not a refusal: worth another try (Retry-After honoured).
    if (response.status >= 500 || response.status === 429) {
        throw new TransportError(message, undefined, { status: response.status, retryAfterMs: retryAfterMs(response.headers) });
    }
    throw new AuthenticationError(message);
}
