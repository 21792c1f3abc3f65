import { PlatformName } from "../drivers/platform";
import { guestAgentPackages, guestAgentStartCommands } from "./agents";
import { checkGuestBudget, GuestBudget } from "./budget";
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
    return { userData: renderPlan(plan, options.platform), plan, budget };
}

/** The user-data for a validated plan. */
export function renderPlan(plan: GuestPlan, platform: PlatformName): string {
    const packages = [...(plan.installGuestAgent ? guestAgentPackages[platform] : []), ...(plan.installAcpid ? ["acpid"] : [])];
    const runcmd: string[][] = [];
    if (plan.hooks.length > 0 || plan.services.length > 0) runcmd.push(["systemctl", "daemon-reload"]);
    if (plan.hooks.length > 0) runcmd.push(["systemctl", "enable", "--now", guestPaths.unitName]);
    const additions: CloudConfigAdditions = {
        write_files: renderGuestFiles(plan).map((file) => ({
            path: file.path,
            permissions: file.permissions,
            owner: "root:root",
            content: file.content,
        })),
        runcmd,
        packages,
    };
    const merged = mergeCloudConfig(plan.userData ?? {}, additions, "lifecycle.userData");
    const starts = packages.map((p) => guestAgentStartCommands[p]).filter((c): c is string => c !== undefined);
    if (starts.length > 0) merged.runcmd = [...((merged.runcmd as unknown[] | undefined) ?? []), ...starts];
    return stringifyCloudConfig(merged);
}
