import { PropertyValues, VimClient } from "../../src/drivers/vsphere/client";
import { MoRef } from "../../src/drivers/vsphere/soap";
import { TaskTimeoutError, awaitTask } from "../../src/drivers/vsphere/tasks";
import { PropertyWatcher } from "../../src/drivers/vsphere/waiter";
import { XmlElement } from "../../src/drivers/vsphere/xml";
import { systemClock } from "../../src/power/clock";
import { ScriptedCollector, hostFor } from "./scriptedCollector";

/** A task that is still running on its first read is heard ending through the shared watcher, not polled. */
const task: MoRef = { type: "Task", value: "task-7" };

function element(name: string, text = "", children: XmlElement[] = [], xsiType?: string): XmlElement {
    return { name, namespace: "urn:vim25", attributes: {}, xsiType, text, children };
}

function reader(state: string) {
    const reads: string[] = [];
    const client = {
        async retrieveProperties(obj: MoRef): Promise<PropertyValues> {
            reads.push(obj.value);
            return new Map([["info.state", element("val", state)]]);
        },
    };
    return { client: client as unknown as VimClient, reads };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe("awaitTask through the shared watcher", () => {
    test("running at the first read: its end arrives as an update, with no second read, and it leaves the view", async () => {
        const collector = new ScriptedCollector();
        const watcher = new PropertyWatcher(hostFor(collector));
        const { client, reads } = reader("running");
        const done = awaitTask(client, task, "PowerOffVM_Task on vm-1", systemClock, 10_000, watcher);
        await tick();
        collector.push([{ obj: task, changes: [["info.state", element("val", "success")]] }]);
        await done;
        expect(reads).toEqual(["task-7"]);
        expect(collector.calls).toContain("CreateListView(task-7)");
        await tick();
        await tick();
        expect(watcher.watching).toBe(0);
        await watcher.shutdown();
    });

    test("a task that ends in error throws its fault", async () => {
        const collector = new ScriptedCollector();
        const watcher = new PropertyWatcher(hostFor(collector));
        const done = awaitTask(reader("queued").client, task, "PowerOnVM_Task on vm-1", systemClock, 10_000, watcher);
        await tick();
        const error = element("val", "", [
            element("fault", "", [element("existingState", "poweredOn")], "InvalidPowerState"),
            element("localizedMessage", "The attempted operation cannot be performed in the current state (Powered on)."),
        ]);
        collector.push([
            {
                obj: task,
                changes: [
                    ["info.state", element("val", "error")],
                    ["info.error", error],
                ],
            },
        ]);
        await expect(done).rejects.toMatchObject({ faultType: "InvalidPowerState", fields: { existingState: "poweredOn" } });
        await watcher.shutdown();
    });

    test("a task still running at its timeout is TaskTimeoutError", async () => {
        const collector = new ScriptedCollector();
        const watcher = new PropertyWatcher(hostFor(collector));
        await expect(
            awaitTask(reader("running").client, task, "PowerOffVM_Task on vm-1", systemClock, 300, watcher),
        ).rejects.toBeInstanceOf(TaskTimeoutError);
        await watcher.shutdown();
    });
});
