import { Clock } from "../../power/clock";
import { AuthenticationError } from "../../power/errors";
import { PlatformSession, SessionContext } from "../platform";
import { BatchReader } from "./batchRead";
import { PropertyValues, VimCaller, VimClient } from "./client";
import { isFault } from "./faults";
import { VmLocator } from "./locate";
import { CallOptions, MoRef, SoapTransport } from "./soap";
import { VsphereCredentials, VsphereTarget } from "./spec";
import { PropertyWatcher, WatcherHost } from "./waiter";
import { XmlElement } from "./xml";

export interface VsphereSessionOptions {
    /** Connections to the endpoint: a fleet's calls and the long poll share them. @default 4 */
    readonly maxSockets?: number;
    /** Sees the transport before the first call, e.g. to count calls of a failed login. */
    readonly onTransport?: (transport: SoapTransport) => void;
    /** One try of one SOAP call, start to end (TLS handshake included). @default 30000 */
    readonly requestTimeoutMs?: number;
}

/** Cancelling the long poll, dropping the collector and Logout together, one try each. */
const closeBudgetMs = 3_000;
/** Calls that are the login itself, or make no sense to repeat after one. */
const noRelogin = new Set(["RetrieveServiceContent", "Login", "Logout"]);

/**
 * One vSphere login shared by the drivers of every VM on that endpoint in one run: one HTTPS
 * agent and cookie, one RetrieveServiceContent and Login, VM lookups made once (VmLocator), and
 * one PropertyWatcher (one collector, one WaitForUpdatesEx loop for every VM waited on).
 *
 * A call answered NotAuthenticated (the session expired or was terminated mid-run) logs in
 * again, once for every call that failed with that login, and is sent again once. A refused
 * password is never tried again: every later call fails with the same AuthenticationError, so
 * a fleet never locks the account. The session cookie is registered as a secret.
 */
export class VsphereSession implements PlatformSession, WatcherHost {
    readonly client: VimClient;
    readonly watcher: PropertyWatcher;
    readonly locator: VmLocator;
    private readonly reader: BatchReader;
    private loginGeneration = 0;
    private relogin: Promise<void> | undefined;
    private refused: AuthenticationError | undefined;
    private closed = false;

    private constructor(
        readonly transport: SoapTransport,
        private readonly target: VsphereTarget,
        private readonly credentials: VsphereCredentials,
        private readonly context: SessionContext,
    ) {
        this.client = new VimClient(transport, { call: (method, obj, params, options) => this.call(method, obj, params, options) });
        this.watcher = new PropertyWatcher(this);
        this.locator = new VmLocator(this.client);
        this.reader = new BatchReader(this.client);
    }

    /** Connects and logs in (once: a refused password is never retried). */
    static async open(
        target: VsphereTarget,
        credentials: VsphereCredentials,
        context: SessionContext,
        options: VsphereSessionOptions = {},
    ): Promise<VsphereSession> {
        const url = new URL(target.url);
        if (target.insecure) context.log(`TLS verification is off for ${url.host} (target.vsphere.insecure)`);
        const transport = new SoapTransport({
            url,
            caCert: target.caCert,
            insecure: target.insecure,
            onSecret: context.registerSecret,
            maxSockets: options.maxSockets,
            clock: context.clock,
            requestTimeoutMs: options.requestTimeoutMs,
        });
        options.onTransport?.(transport);
        const session = new VsphereSession(transport, target, credentials, context);
        try {
            await session.client.retrieveServiceContent();
            await session.login();
            return session;
        } catch (e) {
            if (transport.hasSession) await session.client.logout().catch(() => undefined);
            transport.destroy();
            throw e;
        }
    }

    /** Bumped at every login after the first. */
    get generation(): number {
        return this.loginGeneration;
    }

    get clock(): Clock {
        return this.context.clock;
    }

    get log(): (message: string) => void {
        return this.context.log;
    }

    /** A client whose calls are also counted in `counts` (one VM's share of the session). */
    countingClient(counts: Map<string, number>): VimClient {
        const caller: VimCaller = {
            call: (method, obj, params, options) => {
                counts.set(method, (counts.get(method) ?? 0) + 1);
                return this.call(method, obj, params, options);
            },
        };
        return this.client.withCaller(caller);
    }

    /** Reads `paths` of `obj`, in one RetrievePropertiesEx with the same reads of other VMs in this tick. */
    read(obj: MoRef, paths: readonly string[]): Promise<PropertyValues> {
        return this.reader.read(obj, paths);
    }

    /** Cancels the long poll, drops the collector, logs out; the watcher's errors are only logged. */
    async close(): Promise<void> {
        if (this.closed) return;
        this.closed = true;
        // A frozen endpoint costs the clean-up this much, not a full timeout per call.
        this.transport.windDown(closeBudgetMs);
        try {
            await this.watcher
                .shutdown()
                .catch((e: unknown) =>
                    this.context.log(`closing the vSphere property collector failed: ${e instanceof Error ? e.message : String(e)}`),
                );
            if (this.transport.hasSession && !this.refused) await this.client.logout();
        } finally {
            this.transport.destroy();
        }
    }

    private async call(method: string, obj: MoRef, params: string, options?: CallOptions): Promise<XmlElement> {
        if (this.refused && !noRelogin.has(method)) throw this.refused;
        const generation = this.loginGeneration;
        try {
            return await this.transport.call(method, obj, params, options);
        } catch (e) {
            if (!isFault(e, "NotAuthenticated") || noRelogin.has(method) || this.closed) throw e;
            await this.reloginAfter(generation);
            return this.transport.call(method, obj, params, options);
        }
    }

    /** One new login for every call that failed under login `generation`. */
    private reloginAfter(generation: number): Promise<void> {
        if (this.refused) return Promise.reject(this.refused);
        if (generation !== this.loginGeneration) return Promise.resolve();
        this.relogin ??= (async () => {
            this.context.log(`the vSphere session at ${new URL(this.target.url).host} is no longer authenticated; logging in again`);
            // A stale cookie would make the server refuse the Login itself.
            this.transport.forgetSession();
            await this.login();
            this.loginGeneration++;
            this.watcher.sessionRenewed();
        })().finally(() => (this.relogin = undefined));
        return this.relogin;
    }

    private async login(): Promise<void> {
        try {
            await this.client.login(this.target.username, this.credentials.password);
        } catch (e) {
            if (isFault(e, "InvalidLogin", "NoPermission")) {
                this.refused = new AuthenticationError(
                    `vSphere at ${new URL(this.target.url).host} refused the login of "${this.target.username}" (${e.faultType}); check target.vsphere.username and password`,
                );
                throw this.refused;
            }
            throw e;
        }
    }
}
