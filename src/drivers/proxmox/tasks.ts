import { pollUntil } from "../common/pollUntil";
import { Clock } from "../../power/clock";
import { ProxmoxClient } from "./client";

/**
 * PVE worker tasks. Every power POST answers `{"data": "<UPID>"}` as soon as the task is
 * forked: HTTP 200 means "started", and only the task's exit status says whether it worked.
 */

/** A decoded `UPID:<node>:<pid>:<pstart>:<starttime>:<type>:<id>:<user>:` (trailing colon). */
export interface Upid {
    readonly text: string;
    /** The node that runs the task: poll its status there, not on the VM's node. */
    readonly node: string;
    readonly pid: number;
    readonly startTime: number;
    /** `qmshutdown`, `qmstop`, `qmstart`, `hastop`, ... */
    readonly type: string;
    /** The vmid for qemu tasks; may be empty. */
    readonly id: string;
    readonly user: string;
}

const upidPattern =
    /^UPID:([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):([0-9A-Fa-f]{8}):([^:\s]+):([^:\s]*):([^:\s]+):$/;

export function parseUpid(text: unknown): Upid | undefined {
    if (typeof text !== "string") return undefined;
    const match = upidPattern.exec(text);
    if (!match) return undefined;
    return {
        text,
        node: match[1],
        pid: parseInt(match[3], 16),
        startTime: parseInt(match[5], 16),
        type: match[6],
        id: match[7],
        user: match[8],
    };
}

/** `GET /nodes/{node}/tasks/{upid}/status`; extra keys (e.g. `tokenid`) are ignored. */
export interface TaskStatus {
    readonly status: "running" | "stopped";
    /** Present once stopped: `OK`, `WARNINGS: n`, or the error text. */
    readonly exitstatus?: string;
}

/** `OK` and `WARNINGS: n` are success (as PVE's own `status_is_error` has it); anything else is the error. */
export function taskSucceeded(exitStatus: string | undefined): boolean {
    return exitStatus === "OK" || /^WARNINGS: \d+$/.test(exitStatus ?? "");
}

export function taskPath(upid: Upid, suffix: string): string {
    return `/nodes/${encodeURIComponent(upid.node)}/tasks/${encodeURIComponent(upid.text)}/${suffix}`;
}

export async function readTaskStatus(client: ProxmoxClient, upid: Upid): Promise<TaskStatus> {
    const data = await client.get<Partial<TaskStatus> | null>(taskPath(upid, "status"));
    if (!data || (data.status !== "running" && data.status !== "stopped")) {
        throw new Error(`Proxmox task ${upid.text}: unexpected status answer ${JSON.stringify(data)}`);
    }
    return { status: data.status, ...(typeof data.exitstatus === "string" ? { exitstatus: data.exitstatus } : {}) };
}

/**
 * Polls a task until it stops or `deadline` passes; returns its last status either way (a
 * task still running at the deadline is the caller's to judge).
 */
export async function waitForTask(
    client: ProxmoxClient,
    upid: Upid,
    clock: Clock,
    deadline: number,
    intervalMs: number,
): Promise<TaskStatus> {
    const result = await pollUntil({
        clock,
        deadline,
        intervalMs,
        read: () => readTaskStatus(client, upid),
        done: (status) => status.status === "stopped",
    });
    return result.value;
}

/**
 * The lines before `TASK ERROR:` that say why a task failed (warnings, the agent's answer).
 * Best effort: a task log that cannot be read adds nothing.
 */
export async function taskLogTail(client: ProxmoxClient, upid: Upid, lines = 3): Promise<string[]> {
    try {
        const log = await client.get<Array<{ n: number; t: string }> | null>(taskPath(upid, "log"), { start: 0, limit: 500 });
        const text = (log ?? []).map((l) => l.t).filter((t) => t.trim() !== "" && !/^TASK (ERROR|OK|WARNINGS)/.test(t));
        return text.slice(-lines);
    } catch {
        return [];
    }
}
