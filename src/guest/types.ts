import { Duration } from "../power/duration";

/**
 * One step the guest runs, in order with the others, when it is asked to shut down and before
 * its application services get SIGTERM. Exactly one of `exec`, `drain` or `httpGet`.
 *
 * ```ts
 * preStop: [
 *     { name: "drain", drain: { createFile: "/run/app/draining", seconds: "30s" } },
 *     { name: "deregister", httpGet: { url: "http://lb.internal/deregister", method: "POST" }, timeout: "5s" },
 *     { name: "flush", exec: { command: ["/usr/local/bin/app", "flush"] }, timeout: "20s" },
 * ]
 * ```
 */
export interface PreStopHook {
    /**
     * Names the hook in the guest's journal and in budget errors: letters, digits, `.`, `_`
     * and `-`, starting with a letter or digit, at most 63 characters, unique.
     */
    readonly name: string;
    /** Run a command or a script. */
    readonly exec?: ExecHookArgs;
    /** Take the VM out of its load balancer, then wait for the balancer to notice. */
    readonly drain?: DrainHookArgs;
    /** Call an HTTP endpoint, such as a load balancer's deregistration API. */
    readonly httpGet?: HttpRequestArgs;
    /**
     * How long the hook may run before it is sent SIGTERM (SIGKILL 1 s later, for a hook that
     * ignores SIGTERM: the budget counts `timeout` + 1 s); the shutdown then goes on with the
     * next hook. Not used by `drain`, whose time is its `seconds` plus its request's `timeout`
     * (+ 1 s).
     * @default "10s"
     */
    readonly timeout?: Duration;
    /**
     * The shutdowns the hook runs on: `"poweroff"` (also halt, and a shutdown the guest cannot
     * tell apart) and/or `"reboot"` (also kexec). Leave `"reboot"` out to skip a drain when the
     * VM comes straight back.
     * @default ["poweroff", "reboot"]
     */
    readonly on?: readonly ShutdownKind[];
}

export const shutdownKinds = ["poweroff", "reboot"] as const;
/** A guest shutdown that ends powered off, or one that boots again. */
export type ShutdownKind = (typeof shutdownKinds)[number];

/** Exactly one of `command` or `script`. */
export interface ExecHookArgs {
    /**
     * The program and its arguments, run as given (no shell): `["/usr/bin/app", "drain",
     * "--all"]`. A program without a `/` is looked up on the guest's `PATH`.
     */
    readonly command?: readonly string[];
    /**
     * A script, written to a file in the guest and run. It runs with the interpreter named by
     * its `#!` line, or `/bin/sh` when it has none.
     */
    readonly script?: string;
}

/**
 * Marks the VM as draining (by creating or removing a file that the application's health
 * endpoint reads, and/or by calling a URL), then waits `seconds` so the load balancer's health
 * checks take it out before the application stops.
 */
export interface DrainHookArgs {
    /** How long to wait after marking the VM as draining: the balancer's health-check interval × unhealthy threshold, plus a little. */
    readonly seconds: Duration;
    /** An absolute path created to mark draining (a health endpoint that fails while it exists). */
    readonly createFile?: string;
    /** An absolute path removed to mark draining (a health endpoint that fails once it is gone). */
    readonly removeFile?: string;
    /** A request that marks the VM as draining. */
    readonly request?: HttpRequestArgs;
}

/** An HTTP(S) request made from the guest (with its own `python3`, which cloud-init needs anyway). */
export interface HttpRequestArgs {
    /** `http://` or `https://` URL. */
    readonly url: string;
    /** @default "GET" */
    readonly method?: HttpMethod;
    /** Request headers. Values may be secrets: the user-data output is then a secret too. @default {} */
    readonly headers?: Readonly<Record<string, string>>;
    /** Request body. @default none */
    readonly body?: string;
    /** Accept a server certificate that does not verify (self-signed). @default false */
    readonly insecureSkipVerify?: boolean;
    /** For a drain's request: how long it may take. For an `httpGet` hook, the hook's `timeout` is used. @default "5s" */
    readonly timeout?: Duration;
}

export const httpMethods = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"] as const;
export type HttpMethod = (typeof httpMethods)[number];

/** An application service whose stop the preStop hooks run before. */
export interface GuestServiceArgs {
    /** systemd unit name: `app` or `app.service` (`.service` is added when missing). */
    readonly name: string;
    /**
     * How long systemd waits after SIGTERM before it SIGKILLs the service (`TimeoutStopSec=`).
     * @default "30s"
     */
    readonly timeoutStopSec?: Duration;
    /**
     * Which processes get the stop signal (`KillMode=`). `control-group`: SIGTERM to every
     * process; when the main process exits, the rest get SIGTERM again and a fresh
     * `timeoutStopSec`, so the stop can take twice `timeoutStopSec` (the budget counts both).
     * `mixed`: SIGTERM to the main process only; the rest get SIGKILL as soon as it exits, or at
     * `timeoutStopSec`: at most one `timeoutStopSec`.
     * @default "control-group"
     */
    readonly killMode?: "control-group" | "mixed";
}

/** Guest-side settings beyond the hooks: services, budget margin, existing user-data, agents. */
export interface GuestLifecycleArgs {
    /**
     * Application services that must stop only after the preStop hooks have run. Each gets a
     * drop-in with its `TimeoutStopSec=` and `KillMode=`. A plain name takes the defaults.
     * @default none
     */
    readonly services?: ReadonlyArray<string | GuestServiceArgs>;
    /**
     * Time kept free in `gracefulShutdownTimeout` after hooks and services, for the rest of
     * the guest's shutdown (unmounting, syncing disks, the kernel powering off). At least 2s.
     * @default "10s"
     */
    readonly margin?: Duration;
    /**
     * Your own `#cloud-config` user-data. The hooks are merged into it (`write_files`,
     * `runcmd` and `packages` lists are extended, every other key is kept), not replacing it.
     * @default none
     */
    readonly userData?: string;
    /**
     * Install the guest agent the platform needs for a graceful shutdown request:
     * `qemu-guest-agent` (libvirt, Proxmox), `open-vm-tools` (vSphere); Azure's images ship
     * their agent. Needs the guest to reach a package mirror at first boot.
     * @default true
     */
    readonly installGuestAgent?: boolean;
    /**
     * Also install `acpid`, for guests without systemd-logind, which otherwise ignore the
     * ACPI power button that hypervisors press for a graceful shutdown.
     * @default false
     */
    readonly installAcpid?: boolean;
}
