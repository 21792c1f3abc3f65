import { Clock } from "../../power/clock";
import { PropertyValues, VimClient } from "./client";
import { faultFromLocalizedMethodFault } from "./faults";
import { MoRef } from "./soap";
import { PropertyWatcher, WatchedValues } from "./waiter";

/** A vSphere task did not finish in time. The operation may still complete later. */
export class TaskTimeoutError extends Error {
    constructor(operation: string, task: MoRef, state: string, timeoutMs: number) {
        super(`vSphere ${operation} (${task.value}) was still ${state} after ${Math.round(timeoutMs / 1000)} s`);
        this.name = "TaskTimeoutError";
    }
}

const firstPollDelayMs = 100;
const maxPollDelayMs = 1000;
const taskPaths = ["info.state", "info.error"];

const stateOf = (info: WatchedValues): string => info.get("info.state")?.text.trim() ?? "unknown";
const finished = (info: WatchedValues): boolean => ["success", "error"].includes(stateOf(info));

/**
 * Waits for a Task: one read of its `info.state` (vcsim's tasks, and many of vCenter's, are
 * already done then), then the session's shared watcher, which hears the task end without
 * reading it again; without a watcher (or where the server lacks one), reads backing off from
 * 100 ms to 1 s. Throws the task's fault (InvalidPowerState, ...) as a VimFault when it ends
 * in `error`.
 */
export async function awaitTask(
    client: VimClient,
    task: MoRef,
    operation: string,
    clock: Clock,
    timeoutMs: number,
    watcher?: PropertyWatcher,
): Promise<void> {
    const deadline = clock.now() + timeoutMs;
    let info: WatchedValues = await client.retrieveProperties(task, taskPaths);
    if (!finished(info) && watcher && !watcher.unsupported) {
        try {
            info = (await watcher.waitUntil(task, info as PropertyValues, finished, deadline)).values;
        } finally {
            watcher.release(task);
        }
    }
    let delay = firstPollDelayMs;
    for (;;) {
        const state = stateOf(info);
        if (state === "success") return;
        if (state === "error") {
            const error = info.get("info.error");
            if (error) throw faultFromLocalizedMethodFault(error, operation);
            throw new Error(`vSphere ${operation} (${task.value}) failed without saying why`);
        }
        if (clock.now() >= deadline) throw new TaskTimeoutError(operation, task, state, timeoutMs);
        await clock.sleep(Math.min(delay, Math.max(0, deadline - clock.now())));
        delay = Math.min(delay * 2, maxPollDelayMs);
        info = await client.retrieveProperties(task, taskPaths);
    }
}
