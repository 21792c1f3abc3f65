import { PropertyValues, UpdateSet, VimClient } from "../../src/drivers/vsphere/client";
import { VimFault } from "../../src/drivers/vsphere/faults";
import { CallOptions, MoRef, SoapCallAborted } from "../../src/drivers/vsphere/soap";
import { WatcherHost } from "../../src/drivers/vsphere/waiter";
import { XmlElement } from "../../src/drivers/vsphere/xml";
import { Clock, systemClock } from "../../src/power/clock";

/** A scripted PropertyCollector for the shared watcher's unit tests (vcsim covers the real protocol). */

export function value(text: string): XmlElement {
    return { name: "val", namespace: "urn:vim25", attributes: {}, xsiType: "VirtualMachinePowerState", text, children: [] };
}

export function power(text: string): PropertyValues {
    return new Map([["runtime.powerState", value(text)]]);
}

export type Answer = { obj: MoRef; kind?: string; power?: string; changes?: [string, XmlElement][] }[];

/** A collector whose WaitForUpdatesEx answers come from `push`; a pending call waits for one. */
export class ScriptedCollector {
    readonly calls: string[] = [];
    private pending: { resolve: (u: UpdateSet | undefined) => void } | undefined;
    private queued: UpdateSet[] = [];
    private version = 0;

    constructor(private readonly missing?: string) {}

    push(answer: Answer): void {
        const set: UpdateSet = {
            version: String(++this.version),
            objects: answer.map((a) => ({
                obj: a.obj,
                kind: a.kind ?? "modify",
                changes: new Map(a.changes ?? (a.power ? [["runtime.powerState", value(a.power)]] : [])),
            })),
        };
        if (this.pending) {
            this.pending.resolve(set);
            this.pending = undefined;
        } else this.queued.push(set);
    }

    async createPropertyCollector(): Promise<MoRef> {
        this.calls.push("CreatePropertyCollector");
        if (this.missing) throw new VimFault(this.missing, "CreatePropertyCollector on propertyCollector", "", {});
        return { type: "PropertyCollector", value: "pc-own" };
    }
    async destroyPropertyCollector(): Promise<void> {
        this.calls.push("DestroyPropertyCollector");
    }
    async createListView(objects: readonly MoRef[]): Promise<MoRef> {
        this.calls.push(`CreateListView(${objects.map((o) => o.value).join(",")})`);
        return { type: "ListView", value: "view-1" };
    }
    async modifyListView(_view: MoRef, add: readonly MoRef[], remove: readonly MoRef[]): Promise<MoRef[]> {
        this.calls.push(`ModifyListView(+${add.map((o) => o.value).join(",")} -${remove.map((o) => o.value).join(",")})`);
        return [];
    }
    async createViewFilter(): Promise<MoRef> {
        this.calls.push("CreateFilter");
        return { type: "PropertyFilter", value: "filter-1" };
    }
    async cancelWaitForUpdates(): Promise<void> {
        this.calls.push("CancelWaitForUpdates");
        this.pending?.resolve(undefined);
    }
    waitForUpdates(_collector: MoRef, version: string, _max: number, options: CallOptions = {}): Promise<UpdateSet | undefined> {
        this.calls.push(`WaitForUpdatesEx(${version})`);
        const next = this.queued.shift();
        if (next) return Promise.resolve(next);
        return new Promise((resolve, reject) => {
            this.pending = { resolve };
            options.signal?.addEventListener("abort", () => reject(new SoapCallAborted("WaitForUpdatesEx")), { once: true });
        });
    }
}

export function hostFor(collector: ScriptedCollector, clock: Clock = systemClock): WatcherHost & { logs: string[]; generation: number } {
    const logs: string[] = [];
    return { client: collector as unknown as VimClient, generation: 0, clock, log: (m) => logs.push(m), logs };
}
