import { HttpMethod } from "./types";

/** A validated, normalized hook: durations in milliseconds, defaults filled. */
export type PlannedHook = PlannedExecHook | PlannedDrainHook | PlannedHttpHook;

interface PlannedHookBase {
    readonly name: string;
    /** The most time this hook can take: what the budget counts. */
    readonly budgetMs: number;
}

export interface PlannedExecHook extends PlannedHookBase {
    readonly kind: "exec";
    readonly command?: readonly string[];
    readonly script?: string;
}

export interface PlannedDrainHook extends PlannedHookBase {
    readonly kind: "drain";
    readonly drainMs: number;
    readonly createFile?: string;
    readonly removeFile?: string;
    readonly request?: PlannedRequest;
}

export interface PlannedHttpHook extends PlannedHookBase {
    readonly kind: "httpGet";
    readonly request: PlannedRequest;
}

export interface PlannedRequest {
    readonly url: string;
    readonly method: HttpMethod;
    readonly headers: ReadonlyArray<readonly [string, string]>;
    readonly body?: string;
    readonly insecureSkipVerify: boolean;
    readonly timeoutMs: number;
}

export interface PlannedService {
    /** Always with its `.service` suffix. */
    readonly unit: string;
    readonly timeoutStopMs: number;
    readonly killMode: "control-group" | "mixed";
}

/** Everything the guest side renders from, validated. */
export interface GuestPlan {
    readonly hooks: readonly PlannedHook[];
    readonly services: readonly PlannedService[];
    readonly marginMs: number;
    /** The user's own cloud-config, parsed, to merge into. */
    readonly userData?: Readonly<Record<string, unknown>>;
    readonly installGuestAgent: boolean;
    readonly installAcpid: boolean;
}
