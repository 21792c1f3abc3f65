import { VimClient } from "./client";
import { isMethodMissing } from "./faults";
import { MoRef, moRefOf, xmlElement, xmlMoRef, xmlParam } from "./soap";
import { XmlElement, child, childText, children } from "./xml";

/** Who powered a VM off, read from vCenter's event history. */
export interface PowerOffCause {
    readonly by: "guest" | "external";
    /** For the report: the event that tells, and who did it when vCenter says. */
    readonly detail: string;
}

/** One vim25 event, as much of it as the decision needs. */
export interface VmEventRecord {
    /** The event's data type: `VmPoweredOffEvent`, `VmStoppingEvent`, ... */
    readonly type: string;
    /** Increasing with time on one vCenter. */
    readonly key: number;
    readonly userName?: string;
    /** `VmShutdownOnIsolationEvent.shutdownResult`: `shutdown` or `poweredOff`. */
    readonly shutdownResult?: string;
}

/** The power-off events: the plain one and HA's two subtypes (host isolation). */
const offEvents = ["VmPoweredOffEvent", "VmPowerOffOnIsolationEvent", "VmShutdownOnIsolationEvent"];
/**
 * The events around a power-off. A power-off operation (PowerOffVM_Task from any client, HA,
 * a host's own power-off) runs as a task that posts VmStoppingEvent before VmPoweredOffEvent;
 * a guest that shuts itself down posts no VmStoppingEvent, and VMware Tools' ShutdownGuest posts
 * VmGuestShutdownEvent when it is asked.
 */
const eventTypes = [...offEvents, "VmStoppingEvent", "VmGuestShutdownEvent", "VmPoweredOnEvent", "VmStartingEvent"];
/**
 * The most events one answer may hold (vim25's limit). The time window keeps a real vCenter's
 * answer to a few events; vcsim 0.24 ignores the window and fills a smaller page from the oldest
 * end of its history, so only a page as large as its whole history holds the newest events.
 */
const maxEvents = 1000;
/** How far before our request the window opens: room for clocks that disagree. */
const windowSlackMs = 60 * 60 * 1000;

/**
 * Tells a guest's own shutdown from a hard power-off by someone else, from the VM's events
 * (EventManager.QueryEvents, filtered to this VM and the power events; where QueryEvents is
 * missing, as on vcsim's ESXi model, an EventHistoryCollector's latest page). No answer (no
 * events at all, a failed read) leaves the cause unknown.
 */
export class PowerOffCauses {
    private mode: "query" | "collector" | "unsupported" = "query";

    constructor(
        private readonly client: VimClient,
        private readonly log: (message: string) => void,
    ) {}

    /**
     * The cause of the VM's latest power-off since about `since` (wall-clock ms, our request),
     * or undefined when the events do not tell.
     */
    async latest(vm: MoRef, since: number, timeoutMs: number): Promise<PowerOffCause | undefined> {
        const eventManager = this.client.serviceContent.eventManager;
        if (!eventManager || this.mode === "unsupported") return undefined;
        const filter = filterFor(vm, since - windowSlackMs);
        let events: VmEventRecord[];
        try {
            events =
                this.mode === "query"
                    ? await this.query(eventManager, filter, timeoutMs)
                    : await this.collect(eventManager, filter, timeoutMs);
        } catch (e) {
            if (isMethodMissing(e) && this.mode === "query") {
                this.mode = "collector";
                return this.latest(vm, since, timeoutMs);
            }
            if (isMethodMissing(e)) {
                this.mode = "unsupported";
                this.log(`this vSphere endpoint cannot list events (${e.faultType}); who powered a VM off stays unknown`);
                return undefined;
            }
            this.log(
                `reading the events of ${vm.value} failed (${e instanceof Error ? e.message : String(e)}); who powered it off stays unknown`,
            );
            return undefined;
        }
        return causeFromEvents(events);
    }

    private async query(eventManager: MoRef, filter: string, timeoutMs: number): Promise<VmEventRecord[]> {
        const response = await this.client.invoke("QueryEvents", eventManager, filter, { timeoutMs });
        return parseEvents(children(response, "returnval"));
    }

    /** CreateCollectorForEvents, its `latestPage`, DestroyCollector: three calls for QueryEvents' one. */
    private async collect(eventManager: MoRef, filter: string, timeoutMs: number): Promise<VmEventRecord[]> {
        const created = await this.client.invoke("CreateCollectorForEvents", eventManager, filter, { timeoutMs });
        const collector = moRefOf(child(created, "returnval"));
        if (!collector) throw new Error("vSphere CreateCollectorForEvents returned no collector");
        try {
            const page = (await this.client.retrieveProperties(collector, ["latestPage"])).get("latestPage");
            return parseEvents(page?.children ?? []);
        } finally {
            await this.client.invoke("DestroyCollector", collector, "", { timeoutMs }).catch(() => undefined);
        }
    }
}

/** EventFilterSpec's fields in the WSDL's order (vCenter checks it): entity, time, ..., eventTypeId, maxCount. */
function filterFor(vm: MoRef, begin: number): string {
    return xmlElement(
        "filter",
        xmlElement("entity", xmlMoRef("entity", vm) + xmlParam("recursion", "self")) +
            xmlElement("time", xmlParam("beginTime", new Date(begin).toISOString())) +
            xmlParam("disableFullMessage", true) +
            eventTypes.map((t) => xmlParam("eventTypeId", t)).join("") +
            xmlParam("maxCount", maxEvents),
    );
}

export function parseEvents(elements: readonly XmlElement[]): VmEventRecord[] {
    return elements.flatMap((element) => {
        const key = Number(childText(element, "key"));
        if (!element.xsiType || !Number.isFinite(key)) return [];
        const userName = childText(element, "userName")?.trim();
        const shutdownResult = childText(element, "shutdownResult")?.trim();
        return [
            {
                type: element.xsiType,
                key,
                ...(userName ? { userName } : {}),
                ...(shutdownResult ? { shutdownResult } : {}),
            },
        ];
    });
}

/**
 * The decision, on the VM's power events: the newest power-off, and what came right before it.
 * Only positive evidence says `external` (a VmStoppingEvent: a power-off operation ran; HA's
 * power-off on isolation); a VmGuestShutdownEvent or no operation at all says `guest`.
 * Undefined when the history does not reach the power-off or the VM was powered on after it.
 */
export function causeFromEvents(events: readonly VmEventRecord[]): PowerOffCause | undefined {
    const newestFirst = [...events].sort((a, b) => b.key - a.key);
    const offAt = newestFirst.findIndex((e) => offEvents.includes(e.type));
    if (offAt < 0) return undefined;
    // Powered on again after that power-off: the events do not reach the latest one yet.
    if (newestFirst.slice(0, offAt).some((e) => e.type === "VmPoweredOnEvent" || e.type === "VmStartingEvent")) return undefined;
    const off = newestFirst[offAt];
    const by = (e: VmEventRecord): string => (e.userName ? ` by "${e.userName}"` : "");
    if (off.type === "VmPowerOffOnIsolationEvent") return { by: "external", detail: "HA powered it off (host isolation)" };
    if (off.type === "VmShutdownOnIsolationEvent" && off.shutdownResult === "poweredOff") {
        return { by: "external", detail: "HA powered it off after its shutdown failed (host isolation)" };
    }
    const before = newestFirst[offAt + 1];
    // The page ends at the power-off: what came before it is cut off.
    if (before === undefined && newestFirst.length >= maxEvents) return undefined;
    if (before?.type === "VmStoppingEvent") {
        return { by: "external", detail: `powered off${by(before)} (VmStoppingEvent, then ${off.type}): not the guest's own shutdown` };
    }
    const asked = before?.type === "VmGuestShutdownEvent" ? "VmGuestShutdownEvent" : "no power-off operation";
    return { by: "guest", detail: `the guest shut down (${asked}, then ${off.type})` };
}
