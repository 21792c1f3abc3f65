import { ChildProcess } from "child_process";
import { createInterface } from "readline";
import { Clock } from "../../power/clock";
import { Virsh, killGroup } from "./virsh";

/** One line of `virsh event --event lifecycle`: `Stopped Shutdown`, `Started Booted`, ... */
export interface LifecycleEvent {
    readonly event: string;
    readonly detail: string;
}

const eventLine = /event 'lifecycle' for domain '.*': (\S+)\s*(.*)$/;

export function parseLifecycleLine(line: string): LifecycleEvent | undefined {
    const match = eventLine.exec(line);
    return match ? { event: match[1], detail: match[2].trim() } : undefined;
}

/**
 * A long-lived `virsh event --loop` for one domain, so a stop is noticed within milliseconds
 * instead of at the next poll. Started before any request that changes the state, so no event
 * falls between the request and the wait. If it dies (daemon restart, old virsh) waiting
 * degrades to the caller's slow poll; it never fails a transition.
 */
export class LifecycleWatcher {
    private child: ChildProcess | undefined;
    private generation = 0;
    private readonly waiters = new Set<() => void>();
    private lastEvent: LifecycleEvent | undefined;
    private ended = false;

    constructor(
        private readonly virsh: Virsh,
        private readonly domain: string,
        private readonly log: (message: string) => void,
    ) {}

    /** Spawns the watcher once; later calls do nothing. */
    start(): void {
        if (this.child || this.ended) return;
        const child = this.virsh.spawn(["event", "--domain", this.domain, "--event", "lifecycle", "--loop"]);
        this.child = child;
        let stderr = "";
        child.stderr?.setEncoding("utf8");
        child.stderr?.on("data", (chunk: string) => {
            if (stderr.length < 2000) stderr += chunk;
        });
        createInterface({ input: child.stdout! }).on("line", (line) => {
            const event = parseLifecycleLine(line);
            if (event) this.notify(event);
        });
        child.on("error", (e) => {
            this.log(`libvirt event watcher could not start (${e.message}); falling back to polling`);
            this.finish();
        });
        child.on("exit", (code, signal) => {
            if (!this.ended && signal !== "SIGTERM") {
                this.log(`libvirt event watcher stopped (${stderr.trim() || `exit ${code ?? signal}`}); falling back to polling`);
            }
            this.finish();
        });
        // A forgotten close() must not keep the process alive.
        child.unref();
        (child.stdout as { unref?: () => void } | null)?.unref?.();
        (child.stderr as { unref?: () => void } | null)?.unref?.();
    }

    /** A mark to pass to `waitForEvent`: only events after it count. */
    mark(): number {
        return this.generation;
    }

    get latest(): LifecycleEvent | undefined {
        return this.lastEvent;
    }

    /**
     * Resolves when an event newer than `since` arrives, or after `ms` on `clock`, whichever is
     * first. Resolves true for an event.
     */
    async waitForEvent(since: number, ms: number, clock: Clock): Promise<boolean> {
        if (this.generation > since) return true;
        const abort = new AbortController();
        const wake = (): void => abort.abort();
        this.waiters.add(wake);
        try {
            await clock.sleep(ms, abort.signal);
        } finally {
            this.waiters.delete(wake);
        }
        return this.generation > since;
    }

    stop(): void {
        const child = this.child;
        this.ended = true;
        if (child && child.exitCode === null && child.signalCode === null) killGroup(child, "SIGTERM");
        this.finish();
    }

    private notify(event: LifecycleEvent): void {
        this.lastEvent = event;
        this.generation++;
        for (const wake of [...this.waiters]) wake();
    }

    private finish(): void {
        this.ended = true;
    }
}
