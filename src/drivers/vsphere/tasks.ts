import { Clock } from "../../power/clock";
import { VimClient } from "./client";
import { faultFromLocalizedMethodFault } from "./faults";
import { MoRef } from "./soap";

/** A vSphere task did not finish in time. The operation may still complete later. */
export class TaskTimeoutError extends Error {
    constructor(operation: string, task: MoRef, state: string, timeoutMs: number) {
        super(`vSphere ${operation} (${task.value}) was still ${state} after ${Math.round(timeoutMs / 1000)} s`);
        this.name = "TaskTimeoutError";
    }
}

const firstPollDelayMs = 100;
const maxPollDelayMs = 1000;

/**
 * Waits for a Task by reading its `info.state`. vcsim's tasks are already done on the first
 * read; vCenter's go through queued/running, so reads back off from 100 ms to 1 s. Throws the
 * task's fault (InvalidPowerState, ...) as a VimFault when it ends in `error`.
 */
export async function awaitTask(client: VimClient, task: MoRef, operation: string, clock: Clock, timeoutMs: number): Promise<void> {
    const deadline = clock.now() + timeoutMs;
    let delay = firstPollDelayMs;
    for (;;) {
        const info = await client.retrieveProperties(task, ["info.state", "info.error"]);
        const state = info.get("info.state")?.text.trim() ?? "unknown";
        if (state === "success") return;
        if (state === "error") {
            const error = info.get("info.error");
            if (error) throw faultFromLocalizedMethodFault(error, operation);
            throw new Error(`vSphere ${operation} (${task.value}) failed without saying why`);
        }
        if (clock.now() >= deadline) throw new TaskTimeoutError(operation, task, state, timeoutMs);
        await clock.sleep(Math.min(delay, Math.max(0, deadline - clock.now())));
        delay = Math.min(delay * 2, maxPollDelayMs);
    }
}
