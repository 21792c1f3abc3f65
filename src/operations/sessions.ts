import { createHash } from "node:crypto";
import { DriverModule, loadDriverModule } from "../drivers/registry";
import { PlatformName, PlatformSession } from "../drivers/platform";
import { Clock, systemClock } from "../power/clock";
import { Redactor, secretValues } from "../drivers/common/redact";

/**
 * The sessions of one fleet run: one per endpoint and identity, opened when the first VM of
 * that endpoint needs it and shared by every later one, closed together when the run ends. A
 * session that failed to open (a refused password) stays failed for the run: it is never
 * retried VM after VM, which would lock the account.
 */
export interface SessionPoolOptions {
    /** @default systemClock */
    readonly clock?: Clock;
    /** The run's log (not one VM's). */
    readonly log?: (message: string) => void;
    /** Loads a platform's driver module; tests pass their own. */
    readonly loadModule?: (platform: PlatformName) => DriverModule;
}

export class SessionPool {
    private readonly sessions = new Map<string, Promise<PlatformSession>>();
    private readonly secrets = new Set<string>();
    private readonly secretListeners = new Set<(secret: string) => void>();
    /** Every credential and run-time secret the pool has seen, for its own log and errors. */
    private readonly redactor = new Redactor();
    private closed = false;

    constructor(private readonly options: SessionPoolOptions = {}) {}

    /** How many sessions were opened (or tried) in this run. */
    get size(): number {
        return this.sessions.size;
    }

    /**
     * The shared session for this VM's endpoint, or undefined where the platform has none (each
     * VM then connects on its own). `target` and `credentials` are already validated.
     */
    async sessionFor(platform: PlatformName, target: unknown, credentials: unknown): Promise<PlatformSession | undefined> {
        if (this.closed) throw new Error("the run's sessions are already closed");
        const support = (this.options.loadModule ?? loadDriverModule)(platform).sessions;
        if (!support) return undefined;
        // Digested: the key may hold a password, and a Map key shows up in heap snapshots.
        const key = createHash("sha256")
            .update(`${platform}\n${support.key(target, credentials)}`)
            .digest("hex");
        let session = this.sessions.get(key);
        if (!session) {
            secretValues(credentials).forEach((secret) => this.redactor.add(secret));
            session = support.open(target, credentials, {
                clock: this.options.clock ?? systemClock,
                log: (message) => this.options.log?.(this.redactor.scrub(message)),
                registerSecret: (secret) => this.registerSecret(secret),
            });
            // Every VM awaiting it sees the rejection; this copy only keeps Node quiet.
            session.catch(() => undefined);
            this.sessions.set(key, session);
        }
        return session;
    }

    /**
     * Secrets a session obtained (its cookie, its token), now and later, for each VM's redactor.
     * Returns the function that stops listening.
     */
    shareSecrets(add: (secret: string) => void): () => void {
        this.secrets.forEach(add);
        this.secretListeners.add(add);
        return () => this.secretListeners.delete(add);
    }

    /** Closes every session that opened; errors go to `onError` (scrubbed), one per session. */
    async close(onError: (error: unknown) => void = () => undefined): Promise<void> {
        this.closed = true;
        const opened = [...this.sessions.values()];
        this.sessions.clear();
        await Promise.all(
            opened.map(async (pending) => {
                const session = await pending.catch(() => undefined);
                if (session) await session.close().catch((e: unknown) => onError(this.redactor.scrubError(e)));
            }),
        );
    }

    private registerSecret(secret: string): void {
        this.secrets.add(secret);
        this.redactor.add(secret);
        this.secretListeners.forEach((listener) => listener(secret));
    }
}
