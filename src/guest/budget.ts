import { PlatformName } from "../drivers/platform";
import { formatDuration } from "../power/duration";
import { InputError } from "../power/errors";
import { GuestPlan } from "./plan";

/** Azure lets a guest about 5 minutes to shut down before it powers the VM off itself. */
export const azureShutdownLimitMs = 300_000;

/** One item of the guest's shutdown time, as shown in budget errors. */
export interface BudgetItem {
    readonly label: string;
    readonly ms: number;
}

/** The time a guest's shutdown can take with these hooks and services. */
export interface GuestBudget {
    /** Hooks in order, then the services' stop timeouts. */
    readonly items: readonly BudgetItem[];
    readonly hooksMs: number;
    readonly servicesMs: number;
    readonly marginMs: number;
    /** hooks + services + margin: what `gracefulShutdownTimeout` must cover. */
    readonly totalMs: number;
}

/**
 * Hooks run one after the other. Services are counted one after the other too: systemd stops
 * unrelated services in parallel, but services ordered among themselves stop in sequence, and
 * the budget must hold either way.
 */
export function guestBudget(plan: GuestPlan): GuestBudget {
    const hookItems = plan.hooks.map((hook) => ({ label: hook.name, ms: hook.budgetMs }));
    const serviceItems = plan.services.map((service) => ({
        label: `${service.unit.replace(/\.service$/, "")} stop`,
        ms: service.timeoutStopMs,
    }));
    const hooksMs = sum(hookItems);
    const servicesMs = sum(serviceItems);
    return {
        items: [...hookItems, ...serviceItems],
        hooksMs,
        servicesMs,
        marginMs: plan.marginMs,
        totalMs: hooksMs + servicesMs + plan.marginMs,
    };
}

/**
 * Throws an InputError naming the numbers when the guest's shutdown cannot fit in the host's
 * graceful timeout (the host would power it off mid-drain), or on Azure in the platform's own
 * limit. Pure: the component, the provider and the CLI can all call it.
 */
export function checkGuestBudget(plan: GuestPlan, gracefulTimeoutMs: number, platform: PlatformName): GuestBudget {
    const budget = guestBudget(plan);
    if (budget.items.length === 0) return budget;
    const needed = budget.hooksMs + budget.servicesMs;
    const parts = budget.items.map((item) => `${item.label} ${formatDuration(item.ms)}`).join(" + ");
    const what = `hooks and services need ${formatDuration(needed)} (${parts}) plus a ${formatDuration(budget.marginMs)} margin = ${formatDuration(budget.totalMs)}`;
    if (budget.totalMs > gracefulTimeoutMs) {
        throw new InputError(
            "preStop",
            `${what}, more than gracefulShutdownTimeout ${formatDuration(gracefulTimeoutMs)}; raise gracefulShutdownTimeout or shorten the hooks`,
        );
    }
    if (platform === "azure" && budget.totalMs > azureShutdownLimitMs) {
        throw new InputError("preStop", `${what}, more than the ${formatDuration(azureShutdownLimitMs)} Azure gives a guest to shut down`);
    }
    return budget;
}

function sum(items: readonly BudgetItem[]): number {
    return items.reduce((total, item) => total + item.ms, 0);
}
