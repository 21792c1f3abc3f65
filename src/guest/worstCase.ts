import { GuestPlan, PlannedHook, PlannedService, ShutdownKind } from "./plan";

/**
 * The longest each part of a guest's shutdown can take when it misbehaves: a hook that
 * ignores SIGTERM, a service whose processes outlive their main process. The rendered unit's
 * `TimeoutStopSec=` and the budget check both come from here, so they cannot disagree.
 */

/** How long `timeout(1)` waits between its SIGTERM and its SIGKILL to a hook (`--kill-after`). */
export const hookKillGraceMs = 1_000;

/**
 * Added to the preStop unit's `TimeoutStopSec=` so the hooks' own timeouts always fire before
 * systemd's: it covers starting each hook's process, not any hook's work.
 */
export const preStopUnitGraceMs = 1_000;

/**
 * How long the runner may spend asking systemd whether the guest powers off or reboots
 * (`systemctl list-jobs`, SIGKILLed at this limit); only when a hook runs on one of them alone.
 */
export const shutdownKindCheckMs = 2_000;

/** The hook's own limit: what `timeout(1)` is given (exec, httpGet) or a drain's wait plus its request's timeout. */
export function hookLimitMs(hook: PlannedHook): number {
    return hook.kind === "drain" ? hook.drainMs + (hook.request?.timeoutMs ?? 0) : hook.timeoutMs;
}

/**
 * The most a hook can take: its timeout, then SIGTERM, then SIGKILL `hookKillGraceMs` later
 * for a hook that ignores SIGTERM. A drain's steps are bounded one by one: its request gets the
 * same SIGTERM-then-SIGKILL, its wait is a `sleep`.
 */
export function hookWorstCaseMs(hook: PlannedHook): number {
    if (hook.kind === "drain") return hook.drainMs + (hook.request ? hook.request.timeoutMs + hookKillGraceMs : 0);
    return hook.timeoutMs + hookKillGraceMs;
}

export function runsOn(hook: PlannedHook, kind: ShutdownKind): boolean {
    return hook.on.includes(kind);
}

/** Whether the runner must ask which kind of shutdown this is: some hook skips one kind. */
export function needsShutdownKind(plan: GuestPlan): boolean {
    return plan.hooks.some((hook) => !runsOn(hook, "poweroff") || !runsOn(hook, "reboot"));
}

/**
 * The preStop unit's stop on one kind of shutdown, at worst: the kind check, every hook that
 * runs on it at its worst case, and the unit's grace. When the runner cannot tell the kind it
 * runs the poweroff hooks, so the poweroff figure also covers that case.
 */
export function preStopWorstCaseMs(plan: GuestPlan, kind: ShutdownKind): number {
    if (plan.hooks.length === 0) return 0;
    const hooks = plan.hooks.filter((hook) => runsOn(hook, kind)).reduce((sum, hook) => sum + hookWorstCaseMs(hook), 0);
    return (needsShutdownKind(plan) ? shutdownKindCheckMs : 0) + hooks + preStopUnitGraceMs;
}

/**
 * The preStop unit's `TimeoutStopSec=`: the longer of poweroff and reboot. With `KillMode=mixed`
 * the unit's leftover processes are SIGKILLed as soon as the runner ends or this passes, so the
 * unit never takes longer (with `control-group`, systemd would re-arm the timer for them).
 */
export function preStopStopLimitMs(plan: GuestPlan): number {
    return Math.max(preStopWorstCaseMs(plan, "poweroff"), preStopWorstCaseMs(plan, "reboot"));
}

/**
 * How many `TimeoutStopSec=` a service's stop can take. `control-group`: SIGTERM to every
 * process; when the main process exits, systemd SIGTERMs the rest again and re-arms the timer,
 * so a main process exiting just before the timeout leaves its children a second full timeout.
 * `mixed`: SIGTERM to the main process only; the rest are SIGKILLed when it exits or at the
 * timeout, whichever comes first. (A service's own `ExecStop=`/`ExecStopPost=` would each add
 * another timeout: the docs ask to keep those out of, or add them to, the margin.)
 */
export function serviceTimeouts(service: PlannedService): number {
    return service.killMode === "control-group" ? 2 : 1;
}

export function serviceWorstCaseMs(service: PlannedService): number {
    return serviceTimeouts(service) * service.timeoutStopMs;
}
