import { HttpMethod, ShutdownKind } from "./types";

export { ShutdownKind };

/** A validated, normalized hook: durations in milliseconds, defaults filled. */
export type PlannedHook = PlannedExecHook | PlannedDrainHook | PlannedHttpHook;

interface PlannedHookBase {
    readonly name: string;
    /** The shutdowns the hook runs on (worstCase.ts says how long it can take). */
    readonly on: readonly ShutdownKind[];
}

export interface PlannedExecHook extends PlannedHookBase {
    readonly kind: "exec";
    /** SIGTERM after this, SIGKILL a kill grace later. */
    readonly timeoutMs: number;
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
    /** SIGTERM after this, SIGKILL a kill grace later. */
    readonly timeoutMs: number;
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
