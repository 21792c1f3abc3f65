import { PlatformName } from "../drivers/platform";
import { formatExactDuration } from "../power/duration";
import { InputError } from "../power/errors";
import { GuestPlan, PlannedHook } from "./plan";
import {
    hookKillGraceMs,
    hookWorstCaseMs,
    needsShutdownKind,
    preStopStopLimitMs,
    preStopUnitGraceMs,
    preStopWorstCaseMs,
    runsOn,
    serviceTimeouts,
    serviceWorstCaseMs,
    shutdownKindCheckMs,
} from "./worstCase";

/** Azure lets a guest about 5 minutes to shut down before it powers the VM off itself. */
export const azureShutdownLimitMs = 300_000;

/** One item of the guest's shutdown time, as shown in budget errors. */
export interface BudgetItem {
    readonly label: string;
    /** The item's worst case. */
    readonly ms: number;
    /** How `ms` is made up, when it is more than one number: `"5s + 1s kill grace"`. */
    readonly detail?: string;
}

/** The longest a guest's poweroff can take with these hooks and services, misbehaving ones included. */
export interface GuestBudget {
    /** The hooks that run on poweroff in order, the preStop unit's own overheads, then the services' stops. */
    readonly items: readonly BudgetItem[];
    /** The preStop unit's stop on a poweroff, at worst. */
    readonly hooksMs: number;
    /** The preStop unit's `TimeoutStopSec=`: the longer of its poweroff and reboot worst cases. */
    readonly preStopStopLimitMs: number;
    readonly servicesMs: number;
    readonly marginMs: number;
    /** hooks + services + margin: what `gracefulShutdownTimeout` must cover. */
    readonly totalMs: number;
}

/**
 * Counts the worst case (see worstCase.ts): every hook its timeout plus the kill grace, every
 * service its stop timeout once for `mixed` and twice for `control-group`. Services are counted
 * one after the other: systemd stops unrelated services in parallel, but services ordered among
 * themselves in sequence, and the budget must hold either way. Only hooks that run on a
 * poweroff count: a host's graceful shutdown is one.
 */
export function guestBudget(plan: GuestPlan): GuestBudget {
    const hookItems: BudgetItem[] = plan.hooks.filter((hook) => runsOn(hook, "poweroff")).map(hookItem);
    if (plan.hooks.length > 0) {
        if (needsShutdownKind(plan)) hookItems.push({ label: "shutdown kind check", ms: shutdownKindCheckMs });
        hookItems.push({ label: "preStop unit grace", ms: preStopUnitGraceMs });
    }
    const serviceItems = plan.services.map((service) => ({
        label: `${service.unit.replace(/\.service$/, "")} stop`,
        ms: serviceWorstCaseMs(service),
        detail: `${serviceTimeouts(service)} × ${formatExactDuration(service.timeoutStopMs)}, KillMode=${service.killMode}`,
    }));
    const hooksMs = preStopWorstCaseMs(plan, "poweroff");
    const servicesMs = serviceItems.reduce((total, item) => total + item.ms, 0);
    return {
        items: [...hookItems, ...serviceItems],
        hooksMs,
        preStopStopLimitMs: preStopStopLimitMs(plan),
        servicesMs,
        marginMs: plan.marginMs,
        totalMs: hooksMs + servicesMs + plan.marginMs,
    };
}

function hookItem(hook: PlannedHook): BudgetItem {
    const grace = `${formatExactDuration(hookKillGraceMs)} kill grace`;
    if (hook.kind !== "drain") {
        return { label: hook.name, ms: hookWorstCaseMs(hook), detail: `${formatExactDuration(hook.timeoutMs)} + ${grace}` };
    }
    if (!hook.request) return { label: hook.name, ms: hookWorstCaseMs(hook) };
    const detail = `${formatExactDuration(hook.drainMs)} + request ${formatExactDuration(hook.request.timeoutMs)} + ${grace}`;
    return { label: hook.name, ms: hookWorstCaseMs(hook), detail };
}

/** `drain 30s + deregister 6s (5s + 1s kill grace) + app stop 2m (2 × 1m, KillMode=control-group)`, exact to the millisecond. */
export function describeBudgetItems(items: readonly BudgetItem[]): string {
    return items.map((item) => `${item.label} ${formatExactDuration(item.ms)}${item.detail ? ` (${item.detail})` : ""}`).join(" + ");
}

/**
 * Throws an InputError naming the numbers, exact to the millisecond, when the guest's
 * shutdown at its worst cannot fit in the host's graceful timeout (the host would power it off
 * mid-drain), or on Azure in the platform's own limit. Pure: the component, the provider and
 * the CLI can all call it.
 */
export function checkGuestBudget(plan: GuestPlan, gracefulTimeoutMs: number, platform: PlatformName): GuestBudget {
    const budget = guestBudget(plan);
    if (budget.items.length === 0) return budget;
    const total = formatExactDuration(budget.totalMs);
    const what = `the guest's shutdown can take up to ${total}: ${describeBudgetItems(budget.items)} + margin ${formatExactDuration(budget.marginMs)}`;
    const controlGroup = plan.services.some((service) => service.killMode === "control-group");
    const shorten = `shorten the hooks or the services' timeoutStopSec${controlGroup ? ', or give control-group services killMode "mixed"' : ""}`;
    if (budget.totalMs > gracefulTimeoutMs) {
        const excess = formatExactDuration(budget.totalMs - gracefulTimeoutMs);
        throw new InputError(
            "preStop",
            `${what}; that is ${excess} more than gracefulShutdownTimeout ${formatExactDuration(gracefulTimeoutMs)}; raise gracefulShutdownTimeout, or ${shorten}`,
        );
    }
    if (platform === "azure" && budget.totalMs > azureShutdownLimitMs) {
        const excess = formatExactDuration(budget.totalMs - azureShutdownLimitMs);
        throw new InputError(
            "preStop",
            `${what}; that is ${excess} more than the ${formatExactDuration(azureShutdownLimitMs)} Azure gives a guest to shut down; ${shorten}`,
        );
    }
    return budget;
}
