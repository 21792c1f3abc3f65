import { PlatformName } from "../drivers/platform";
import { platformSpec } from "../drivers/registry";
import { InputError } from "../power/errors";
import { guestAgentPackages, guestAgentStartCommands } from "./agents";
import { formatExactDuration } from "../power/duration";
import { checkGuestBudget, GuestBudget, guestBudget } from "./budget";
import { guestPaths, renderGuestFiles } from "./hooks";
import { CloudConfigAdditions, mergeCloudConfig } from "./merge";
import { GuestPlan } from "./plan";
import { planGuest } from "./validate";
import { stringifyCloudConfig } from "./yaml";

export interface RenderGuestOptions {
    readonly platform: PlatformName;
    /** The host's graceful timeout in milliseconds: the guest's shutdown must fit in it. */
    readonly gracefulTimeoutMs: number;
}

export interface RenderedGuest {
    /** `#cloud-config` user-data, ready for the VM. */
    readonly userData: string;
    readonly plan: GuestPlan;
    readonly budget: GuestBudget;
}

/**
 * Validates `preStop` and `lifecycle` (as plain values) and renders the cloud-init user-data
 * that installs them. Throws InputError(s) naming the field, or the budget that does not fit.
 */
export function renderGuestUserData(preStop: unknown, lifecycle: unknown, options: RenderGuestOptions): RenderedGuest {
    const plan = planGuest(preStop, lifecycle);
    const budget = checkGuestBudget(plan, options.gracefulTimeoutMs, options.platform);
    const userData = renderPlan(plan, options.platform);
    checkUserDataSize(userData, plan, options.platform);
    return { userData, plan, budget };
}

/** The rendered user-data must fit what the platform takes; the error names what made it large. */
function checkUserDataSize(userData: string, plan: GuestPlan, platform: PlatformName): void {
    const { bytes, source } = platformSpec(platform).userDataLimit;
    const size = Buffer.byteLength(userData, "utf8");
    if (size <= bytes) return;
    throw new InputError(
        plan.userData !== undefined ? "lifecycle.userData" : "preStop",
        `the rendered cloud-init user-data is ${size} bytes, more than the ${bytes} the platform takes (${source})`,
    );
}

/**
 * The user-data for a validated plan. Nothing of ours goes into `runcmd`: the hooks are armed by
 * their own boot script (see hooks.ts), so the user's commands can neither block nor skip it.
 */
export function renderPlan(plan: GuestPlan, platform: PlatformName): string {
    const packages = [...(plan.installGuestAgent ? guestAgentPackages[platform] : []), ...(plan.installAcpid ? ["acpid"] : [])];
    const agentStarts = packages.map((p) => guestAgentStartCommands[p]).filter((c): c is string => c !== undefined);
    const additions: CloudConfigAdditions = {
        write_files: renderGuestFiles(plan, agentStarts).map((file) => ({
            path: file.path,
            permissions: file.permissions,
            owner: "root:root",
            content: file.content,
        })),
        runcmd: [],
        packages,
    };
    const merged = mergeCloudConfig(plan.userData ?? {}, additions, "lifecycle.userData");
    return stringifyCloudConfig(merged, budgetComment(plan));
}

/** The header comment: what a poweroff of this guest can take at worst. */
function budgetComment(plan: GuestPlan): string[] {
    if (plan.hooks.length === 0 && plan.services.length === 0) return [];
    const budget = guestBudget(plan);
    return [
        `graceful-vm: a poweroff of this guest takes at most ${formatExactDuration(budget.totalMs)} = preStop hooks ${formatExactDuration(budget.hooksMs)}` +
            ` + services ${formatExactDuration(budget.servicesMs)} + margin ${formatExactDuration(budget.marginMs)}.`,
        ...(plan.hooks.length > 0 ? [`The hooks are armed while ${guestPaths.armedMarker} exists.`] : []),
    ];
}
