/**
 * The simulated cluster behind the contract server: VMs with guests that obey or ignore a
 * shutdown, and worker tasks that run for a while and end `OK`, `WARNINGS: n` or with an
 * error text, following qemu-server's vm_stop/vm_shutdown/vm_start. Real timers: times are
 * milliseconds.
 */

/** How the guest inside a VM behaves. */
export interface GuestBehaviour {
    /** Milliseconds from a shutdown request (ACPI or agent) to power-off; `"never"` for a hung guest. */
    shutdownDelayMs: number | "never";
    /** The guest agent is enabled in the VM config (`agent: 1`). */
    agentConfigured: boolean;
    /** The agent process in the guest answers `guest-ping` (after `agentBootDelayMs` from a start). */
    agentInstalled: boolean;
    agentBootDelayMs: number;
    /** `guest-shutdown` returns an error (the task then fails at once without forceStop). */
    agentShutdownFails: boolean;
    /** How long the `qmstart` task takes. */
    startDelayMs: number;
}

export interface VmOptions extends Partial<GuestBehaviour> {
    vmid: number;
    node?: string;
    name?: string;
    status?: "running" | "stopped";
    /** QMP status while running: `running`, `paused`, `prelaunch`, `suspended`. */
    qmpstatus?: string;
    /** Config lock (`backup`, `migrate`, `snapshot`, ...). */
    lock?: string;
    haManaged?: boolean;
    /** The HA manager's service state (`started`, `request_stop`, `stopped`, ...). @default from status */
    haState?: string;
    template?: boolean;
}

export class SimulatedVm {
    readonly vmid: number;
    /** Changes when the VM migrates (`server.migrateVm`). */
    node: string;
    name: string;
    status: "running" | "stopped";
    qmpstatus: string;
    lock?: string;
    haManaged: boolean;
    /** pve-ha-manager's service state, shown as `ha.state` and `/cluster/resources` `hastate`. */
    haState: string;
    template: boolean;
    guest: GuestBehaviour;
    agentRunning: boolean;
    /** Guest-side power-off already under way (it finishes even if the task asking for it is aborted). */
    private powerOffTimer?: NodeJS.Timeout;
    private agentTimer?: NodeJS.Timeout;
    private startedAt = Date.now();
    /** The qemu-server config flock that vm_stop/vm_start hold (not the `lock` property). */
    readonly configLock = new Mutex();
    /** How many times the guest was asked to shut down, and how. */
    readonly shutdownRequests: Array<"acpi" | "agent"> = [];
    /** Every state change with its time, for lag measurements. */
    readonly history: Array<{ at: number; status: "running" | "stopped"; how: string }> = [];

    constructor(options: VmOptions) {
        this.vmid = options.vmid;
        this.node = options.node ?? "pve1";
        this.name = options.name ?? `vm${options.vmid}`;
        this.status = options.status ?? "running";
        this.qmpstatus = this.status === "running" ? (options.qmpstatus ?? "running") : "stopped";
        this.lock = options.lock;
        this.haManaged = options.haManaged ?? false;
        this.haState = options.haState ?? (this.status === "running" ? "started" : "stopped");
        this.template = options.template ?? false;
        this.guest = {
            shutdownDelayMs: options.shutdownDelayMs ?? 500,
            agentConfigured: options.agentConfigured ?? true,
            agentInstalled: options.agentInstalled ?? true,
            agentBootDelayMs: options.agentBootDelayMs ?? 200,
            agentShutdownFails: options.agentShutdownFails ?? false,
            startDelayMs: options.startDelayMs ?? 100,
        };
        this.agentRunning = this.status === "running" && this.guest.agentInstalled;
    }

    get running(): boolean {
        return this.status === "running";
    }

    /** The guest got a power-button press or `guest-shutdown`: it powers off after its delay. */
    askGuestToShutDown(how: "acpi" | "agent"): void {
        this.shutdownRequests.push(how);
        if (this.guest.shutdownDelayMs === "never" || this.powerOffTimer) return;
        this.powerOffTimer = setTimeout(() => {
            this.powerOffTimer = undefined;
            if (this.running && this.qmpstatus === "running") this.stop(`guest powered off (${how})`);
        }, this.guest.shutdownDelayMs);
    }

    stop(how: string): void {
        if (this.powerOffTimer) clearTimeout(this.powerOffTimer);
        if (this.agentTimer) clearTimeout(this.agentTimer);
        this.powerOffTimer = this.agentTimer = undefined;
        this.status = "stopped";
        this.qmpstatus = "stopped";
        this.agentRunning = false;
        this.history.push({ at: Date.now(), status: "stopped", how });
    }

    start(how: string): void {
        this.status = "running";
        this.qmpstatus = "running";
        this.startedAt = Date.now();
        this.history.push({ at: Date.now(), status: "running", how });
        if (this.guest.agentInstalled) {
            this.agentTimer = setTimeout(() => {
                this.agentTimer = undefined;
                if (this.running) this.agentRunning = true;
            }, this.guest.agentBootDelayMs);
        }
    }

    /** `status/current` data (the fields of the schema's `returns.properties` this simulation knows). */
    currentStatus(): Record<string, unknown> {
        const running = this.running;
        return {
            vmid: this.vmid,
            name: this.name,
            status: this.status,
            qmpstatus: this.qmpstatus,
            ha: this.haManaged ? { managed: 1, state: this.haState } : { managed: 0 },
            cpus: 2,
            maxmem: 2147483648,
            mem: running ? 536870912 : 0,
            maxdisk: 34359738368,
            cpu: running ? 0.01 : 0,
            uptime: running ? Math.floor((Date.now() - this.startedAt) / 1000) : 0,
            diskread: 0,
            diskwrite: 0,
            netin: 0,
            netout: 0,
            ...(running ? { pid: 4000 + this.vmid } : {}),
            ...(this.guest.agentConfigured ? { agent: 1 } : {}),
            ...(this.lock ? { lock: this.lock } : {}),
            ...(this.template ? { template: 1 } : {}),
        };
    }

    /**
     * One entry of `GET /nodes/{node}/qemu`: vmstatus returns early without `full=1`, so the
     * QMP run state and the running machine/QEMU versions come only with it; `ha` and `agent`
     * belong to `status/current` alone.
     */
    listEntry(full: boolean): Record<string, unknown> {
        const basic = this.currentStatus();
        const qmpstatus = basic.qmpstatus;
        for (const key of ["ha", "agent", "qmpstatus"]) delete basic[key];
        if (!full || !this.running) return basic;
        return { ...basic, qmpstatus, "running-machine": "pc-i440fx-9.2+pve1", "running-qemu": "9.2.0" };
    }

    dispose(): void {
        if (this.powerOffTimer) clearTimeout(this.powerOffTimer);
        if (this.agentTimer) clearTimeout(this.agentTimer);
    }
}

/** A FIFO mutex with a bounded wait, like PVE's lock_file with its timeout. */
export class Mutex {
    private held = false;
    private readonly waiters: Array<() => void> = [];

    /** Resolves with a release function, or undefined when `timeoutMs` passes first. */
    acquire(timeoutMs: number, signal: AbortSignal): Promise<(() => void) | undefined> {
        if (!this.held) {
            this.held = true;
            return Promise.resolve(() => this.release());
        }
        return new Promise((resolve) => {
            const grant = (): void => {
                clearTimeout(timer);
                signal.removeEventListener("abort", giveUp);
                resolve(() => this.release());
            };
            const giveUp = (): void => {
                clearTimeout(timer);
                const i = this.waiters.indexOf(grant);
                if (i >= 0) this.waiters.splice(i, 1);
                resolve(undefined);
            };
            const timer = setTimeout(giveUp, timeoutMs);
            signal.addEventListener("abort", giveUp, { once: true });
            this.waiters.push(grant);
        });
    }

    private release(): void {
        const next = this.waiters.shift();
        if (next) next();
        else this.held = false;
    }
}

/** One worker task, addressed by its UPID. */
export class SimulatedTask {
    status: "running" | "stopped" = "running";
    exitstatus?: string;
    readonly log: string[] = [];
    private warnings = 0;
    readonly abort = new AbortController();
    readonly done: Promise<void>;

    constructor(
        readonly upid: string,
        readonly node: string,
        readonly pid: number,
        readonly pstart: number,
        readonly starttime: number,
        readonly type: string,
        readonly id: string,
        /** The full auth id, `user@realm!tokenid`. */
        readonly authId: string,
        work: (task: SimulatedTask) => Promise<void>,
    ) {
        this.done = this.run(work);
    }

    write(line: string): void {
        this.log.push(line);
    }

    warn(line: string): void {
        this.warnings++;
        this.log.push(`WARN: ${line}`);
    }

    /** Sleeps, but an abort (DELETE, overrule-shutdown) ends the task with "received interrupt". */
    sleep(ms: number): Promise<void> {
        return new Promise((resolve, reject) => {
            if (this.abort.signal.aborted) return reject(new TaskInterrupted());
            const timer = setTimeout(() => {
                this.abort.signal.removeEventListener("abort", onAbort);
                resolve();
            }, ms);
            const onAbort = (): void => {
                clearTimeout(timer);
                reject(new TaskInterrupted());
            };
            this.abort.signal.addEventListener("abort", onAbort, { once: true });
        });
    }

    private async run(work: (task: SimulatedTask) => Promise<void>): Promise<void> {
        // The fork returns the UPID before the worker does anything.
        await new Promise((r) => setImmediate(r));
        try {
            await work(this);
            this.finish(this.warnings > 0 ? `WARNINGS: ${this.warnings}` : "OK");
        } catch (e) {
            const message = e instanceof TaskInterrupted ? "received interrupt" : e instanceof Error ? e.message : String(e);
            this.finish(message);
        }
    }

    private finish(exitstatus: string): void {
        this.log.push(
            exitstatus === "OK" ? "TASK OK" : /^WARNINGS: /.test(exitstatus) ? `TASK ${exitstatus}` : `TASK ERROR: ${exitstatus}`,
        );
        this.exitstatus = exitstatus;
        this.status = "stopped";
    }
}

export class TaskInterrupted extends Error {}
