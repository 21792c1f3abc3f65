import { isMethodMissing } from "./faults";
import { CallOptions, MoRef, SoapTransport, moRefOf, xmlElement, xmlMoRef, xmlParam } from "./soap";
import { XmlElement, child, childText, children } from "./xml";

/** The manager references a session needs. ESXi names them `ha-*`, vCenter does not: always read them. */
export interface ServiceContent {
    readonly rootFolder: MoRef;
    readonly propertyCollector: MoRef;
    readonly searchIndex: MoRef;
    readonly sessionManager: MoRef;
    readonly viewManager?: MoRef;
    /** Reads the event history (who powered a VM off). */
    readonly eventManager?: MoRef;
    /** `VirtualCenter` or `HostAgent`. */
    readonly apiType: string;
    readonly apiVersion: string;
    readonly fullName: string;
}

/** One object's properties from RetrievePropertiesEx, by property path. */
export type PropertyValues = ReadonlyMap<string, XmlElement>;

/** One WaitForUpdatesEx answer: the new version and the changed properties of our filter. */
export interface PropertyUpdate {
    readonly version: string;
    /** Property path → new value (`undefined` when the property was removed). */
    readonly changes: ReadonlyMap<string, XmlElement | undefined>;
    /** The object left the filter (deleted). */
    readonly objectLeft: boolean;
}

/** The typed vim25 calls the driver needs, nothing more. */
export class VimClient {
    private content: ServiceContent | undefined;

    constructor(readonly transport: SoapTransport) {}

    get serviceContent(): ServiceContent {
        if (!this.content) throw new Error("RetrieveServiceContent has not been called");
        return this.content;
    }

    async retrieveServiceContent(): Promise<ServiceContent> {
        const response = await this.transport.call("RetrieveServiceContent", { type: "ServiceInstance", value: "ServiceInstance" }, "");
        const value = child(response, "returnval");
        const ref = (name: string): MoRef => {
            const found = moRefOf(child(value, name));
            if (!found) throw new Error(`vSphere RetrieveServiceContent: the answer has no ${name}; is this a vSphere SDK endpoint?`);
            return found;
        };
        const about = child(value, "about");
        this.content = {
            rootFolder: ref("rootFolder"),
            propertyCollector: ref("propertyCollector"),
            searchIndex: ref("searchIndex"),
            sessionManager: ref("sessionManager"),
            viewManager: moRefOf(child(value, "viewManager")),
            eventManager: moRefOf(child(value, "eventManager")),
            apiType: childText(about, "apiType") ?? "unknown",
            apiVersion: childText(about, "apiVersion") ?? "unknown",
            fullName: childText(about, "fullName") ?? "unknown",
        };
        return this.content;
    }

    async login(userName: string, password: string): Promise<void> {
        await this.transport.call(
            "Login",
            this.serviceContent.sessionManager,
            xmlParam("userName", userName) + xmlParam("password", password),
        );
    }

    async logout(): Promise<void> {
        try {
            await this.transport.call("Logout", this.serviceContent.sessionManager, "");
        } finally {
            this.transport.forgetSession();
        }
    }

    async findByInventoryPath(path: string): Promise<MoRef | undefined> {
        const response = await this.transport.call("FindByInventoryPath", this.serviceContent.searchIndex, xmlParam("inventoryPath", path));
        return moRefOf(child(response, "returnval"));
    }

    /**
     * VMs whose instance (or else BIOS) UUID is `uuid`. FindAllByUuid (6.5+) tells duplicates
     * (clones keep the BIOS UUID) from a unique match. Without it, the VMs' `config` UUIDs are
     * read through a ContainerView: FindByUuid would hide duplicates (and crashes vcsim 0.24
     * when other objects share the inventory map).
     */
    async findVmsByUuid(uuid: string, container: MoRef, datacenter: MoRef | undefined): Promise<MoRef[]> {
        const search = async (instanceUuid: boolean): Promise<MoRef[]> => {
            const params =
                (datacenter ? xmlMoRef("datacenter", datacenter) : "") +
                xmlParam("uuid", uuid) +
                xmlParam("vmSearch", true) +
                xmlParam("instanceUuid", instanceUuid);
            const response = await this.transport.call("FindAllByUuid", this.serviceContent.searchIndex, params);
            return children(response, "returnval").flatMap((r) => moRefOf(r) ?? []);
        };
        try {
            const byInstance = await search(true);
            return byInstance.length > 0 ? byInstance : await search(false);
        } catch (e) {
            if (!isMethodMissing(e)) throw e;
        }
        const found = await this.findVms(container, ["config.instanceUuid", "config.uuid"]);
        const wanted = uuid.toLowerCase();
        const byInstance = found.filter((vm) => vm.values.get("config.instanceUuid")?.toLowerCase() === wanted);
        return (byInstance.length > 0 ? byInstance : found.filter((vm) => vm.values.get("config.uuid")?.toLowerCase() === wanted)).map(
            (vm) => vm.ref,
        );
    }

    /** VMs called `name` anywhere under `container` (a Folder or Datacenter). */
    async findVmsByName(name: string, container: MoRef): Promise<MoRef[]> {
        const found = await this.findVms(container, ["name"]);
        return found.filter((vm) => vm.values.get("name") === name).map((vm) => vm.ref);
    }

    /** Every VM under `container` with the text of `paths`, via a ContainerView. */
    private async findVms(container: MoRef, paths: readonly string[]): Promise<Array<{ ref: MoRef; values: Map<string, string> }>> {
        const viewManager = this.serviceContent.viewManager;
        if (!viewManager) throw new Error("this vSphere endpoint has no ViewManager; name the VM by inventory path or moid instead");
        const created = await this.transport.call(
            "CreateContainerView",
            viewManager,
            xmlMoRef("container", container) + xmlParam("type", "VirtualMachine") + xmlParam("recursive", true),
        );
        const view = moRefOf(child(created, "returnval"));
        if (!view) throw new Error("vSphere CreateContainerView returned no view");
        try {
            const traversal = xmlElement(
                "selectSet",
                xmlParam("name", "view") + xmlParam("type", "ContainerView") + xmlParam("path", "view") + xmlParam("skip", false),
                "TraversalSpec",
            );
            const spec =
                xmlElement("propSet", xmlParam("type", "VirtualMachine") + paths.map((p) => xmlParam("pathSet", p)).join("")) +
                xmlElement("objectSet", xmlMoRef("obj", view) + xmlParam("skip", true) + traversal);
            const vms: Array<{ ref: MoRef; values: Map<string, string> }> = [];
            for await (const object of this.retrieveAll(spec)) {
                const ref = moRefOf(child(object, "obj"));
                if (!ref) continue;
                const values = new Map<string, string>();
                for (const property of children(object, "propSet")) {
                    const path = childText(property, "name");
                    if (path !== undefined) values.set(path, childText(property, "val") ?? "");
                }
                vms.push({ ref, values });
            }
            return vms;
        } finally {
            await this.transport.call("DestroyView", view, "").catch(() => undefined);
        }
    }

    /** Reads `paths` of one object. ManagedObjectNotFound surfaces as a VimFault. */
    async retrieveProperties(obj: MoRef, paths: readonly string[]): Promise<PropertyValues> {
        const spec =
            xmlElement("propSet", xmlParam("type", obj.type) + paths.map((p) => xmlParam("pathSet", p)).join("")) +
            xmlElement("objectSet", xmlMoRef("obj", obj));
        const values = new Map<string, XmlElement>();
        for await (const object of this.retrieveAll(spec)) {
            for (const property of children(object, "propSet")) {
                const name = childText(property, "name");
                const value = child(property, "val");
                if (name !== undefined && value) values.set(name, value);
            }
        }
        return values;
    }

    async shutdownGuest(vm: MoRef): Promise<void> {
        await this.transport.call("ShutdownGuest", vm, "");
    }

    async powerOffTask(vm: MoRef): Promise<MoRef> {
        return this.taskOf("PowerOffVM_Task", await this.transport.call("PowerOffVM_Task", vm, ""));
    }

    async powerOnTask(vm: MoRef): Promise<MoRef> {
        return this.taskOf("PowerOnVM_Task", await this.transport.call("PowerOnVM_Task", vm, ""));
    }

    /**
     * A PropertyCollector of this session's own. WaitForUpdatesEx on the shared one would race
     * with any other waiter in the session (and vcsim 0.24 routes updates to one session only).
     */
    async createPropertyCollector(): Promise<MoRef> {
        const response = await this.transport.call("CreatePropertyCollector", this.serviceContent.propertyCollector, "");
        const collector = moRefOf(child(response, "returnval"));
        if (!collector) throw new Error("vSphere CreatePropertyCollector returned no collector");
        return collector;
    }

    /** Also cancels its pending wait and destroys its filters. */
    async destroyPropertyCollector(collector: MoRef): Promise<void> {
        await this.transport.call("DestroyPropertyCollector", collector, "");
    }

    async createFilter(collector: MoRef, obj: MoRef, paths: readonly string[]): Promise<MoRef> {
        const spec = xmlElement(
            "spec",
            xmlElement("propSet", xmlParam("type", obj.type) + paths.map((p) => xmlParam("pathSet", p)).join("")) +
                xmlElement("objectSet", xmlMoRef("obj", obj)),
        );
        const response = await this.transport.call("CreateFilter", collector, spec + xmlParam("partialUpdates", false));
        const filter = moRefOf(child(response, "returnval"));
        if (!filter) throw new Error("vSphere CreateFilter returned no filter");
        return filter;
    }

    async destroyFilter(filter: MoRef): Promise<void> {
        await this.transport.call("DestroyPropertyFilter", filter, "");
    }

    /**
     * Waits up to `maxWaitSeconds` for changes after `version` ("" = the current values at once).
     * Resolves undefined when nothing changed in time. Only `filter`'s changes are returned.
     */
    async waitForUpdates(
        collector: MoRef,
        filter: MoRef,
        version: string,
        maxWaitSeconds: number,
        options: CallOptions = {},
    ): Promise<PropertyUpdate | undefined> {
        const response = await this.transport.call(
            "WaitForUpdatesEx",
            collector,
            xmlParam("version", version) + xmlElement("options", xmlParam("maxWaitSeconds", maxWaitSeconds)),
            { ...options, timeoutMs: maxWaitSeconds * 1000 + 60_000 },
        );
        const updateSet = child(response, "returnval");
        if (!updateSet) return undefined;
        const changes = new Map<string, XmlElement | undefined>();
        let objectLeft = false;
        for (const filterUpdate of children(updateSet, "filterSet")) {
            if (moRefOf(child(filterUpdate, "filter"))?.value !== filter.value) continue;
            for (const objectUpdate of children(filterUpdate, "objectSet")) {
                if (childText(objectUpdate, "kind") === "leave") objectLeft = true;
                for (const change of children(objectUpdate, "changeSet")) {
                    const name = childText(change, "name");
                    if (name !== undefined) changes.set(name, childText(change, "op") === "remove" ? undefined : child(change, "val"));
                }
            }
        }
        return { version: childText(updateSet, "version") ?? version, changes, objectLeft };
    }

    /** Ends a WaitForUpdatesEx the caller stopped listening to, so it cannot swallow later changes. */
    async cancelWaitForUpdates(collector: MoRef): Promise<void> {
        await this.transport.call("CancelWaitForUpdates", collector, "");
    }

    /** RetrievePropertiesEx, following ContinueRetrievePropertiesEx tokens across pages. */
    private async *retrieveAll(specSet: string): AsyncGenerator<XmlElement> {
        const collector = this.serviceContent.propertyCollector;
        let response = await this.transport.call(
            "RetrievePropertiesEx",
            collector,
            xmlElement("specSet", specSet) + xmlElement("options", ""),
        );
        for (;;) {
            const result = child(response, "returnval");
            yield* children(result, "objects");
            const token = childText(result, "token");
            if (!token) return;
            response = await this.transport.call("ContinueRetrievePropertiesEx", collector, xmlParam("token", token));
        }
    }

    private taskOf(method: string, response: XmlElement): MoRef {
        const task = moRefOf(child(response, "returnval"));
        if (!task) throw new Error(`vSphere ${method} returned no task`);
        return task;
    }
}
