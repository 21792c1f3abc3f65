import { PlatformSession, SessionContext, SessionSupport } from "../platform";
import { CachedToken, TokenCredential } from "./credentials";
import { credentialFor } from "./credentialFor";
import { HttpClient } from "./http";
import { AzureCredentials, AzureTarget } from "./spec";

/**
 * What the Azure VMs of one subscription, ARM endpoint and identity share in a run: one HTTPS
 * agent (its TLS context built once per CA bundle by src/drivers/common/tls.ts, its kept-alive
 * connections reused by every VM) and one token cache (one token request for the run, one
 * refresh when it expires or ARM refuses it, a refused secret asked once). A single-VM run's
 * driver opens one of its own and closes it with itself.
 */
export interface AzureSessionOptions {
    /** Replaces the credential the target names (tests, or a caller holding an `@azure/identity` credential). */
    readonly credential?: TokenCredential;
    /** One HTTP request, start to end, TLS handshake included; the token requests use it too. @default 20000 */
    readonly requestTimeoutMs?: number;
    /** Connections kept open to ARM and the authority. @default Infinity */
    readonly maxSockets?: number;
}

/**
 * Connections a fleet's shared session keeps per origin: enough for many VMs' requests at
 * once, few enough that a thousand VMs do not cost a thousand TLS handshakes.
 */
const sharedMaxSockets = 64;

/** Environment variables whose values are secrets the credential may send. */
const secretVariables = [
    "AZURE_CLIENT_SECRET",
    "ARM_CLIENT_SECRET",
    "IDENTITY_HEADER",
    "ARM_OIDC_REQUEST_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
];

export class AzureSession implements PlatformSession {
    readonly http: HttpClient;
    readonly token: CachedToken;
    private closed = false;

    constructor(target: AzureTarget, credentials: AzureCredentials, context: SessionContext, options: AzureSessionOptions = {}) {
        this.http = new HttpClient(target.caCert, options.requestTimeoutMs, { maxSockets: options.maxSockets });
        const credential = options.credential ?? credentialFor(target, credentials, this.http);
        // Secrets read from the environment, and every bearer token, are scrubbed like the client secret.
        for (const name of secretVariables) {
            const value = process.env[name];
            if (value) context.registerSecret?.(value);
        }
        this.token = new CachedToken(credential, `${target.resourceManagerEndpoint}/.default`, () => Date.now(), context.registerSecret, {
            clock: context.clock,
            timeoutMs: this.http.defaultTimeoutMs,
            log: context.log,
        });
    }

    /** Closes the kept-alive connections; the token is only in memory. */
    close(): Promise<void> {
        if (!this.closed) {
            this.closed = true;
            this.http.close();
        }
        return Promise.resolve();
    }
}

/** Target fields that name the VM, not the connection: VMs differing only in these share a session. */
const vmFields: ReadonlySet<string> = new Set(["resourceGroupName", "vmName"]);

export const azureSessions: SessionSupport<AzureTarget, AzureCredentials> = {
    // Subscription, endpoints, CA, identity and its secrets: everything but the VM's own name.
    key(target, credentials) {
        const connection = Object.entries(target)
            .filter(([field]) => !vmFields.has(field))
            .sort(([a], [b]) => a.localeCompare(b));
        const secrets = Object.entries(credentials).sort(([a], [b]) => a.localeCompare(b));
        return JSON.stringify([connection, secrets]);
    },
    open: (target, credentials, context) => {
        // Nothing is sent here: the first VM's first read signs in, within its own call bound and retries.
        try {
            return Promise.resolve(new AzureSession(target, credentials, context, { maxSockets: sharedMaxSockets }));
        } catch (e) {
            return Promise.reject(e instanceof Error ? e : new Error(String(e)));
        }
    },
};
