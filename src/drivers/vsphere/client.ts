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

/** One object's part of a WaitForUpdatesEx answer. */
export interface ObjectUpdate {
    readonly obj: MoRef;
    /** `enter` (new in the filter, with its current values), `modify`, `leave` (gone). */
    readonly kind: string;
    /** Property path → new value (`undefined` when the property was removed). */
    readonly changes: ReadonlyMap<string, XmlElement | undefined>;
}

/** One WaitForUpdatesEx answer: the new version and every object's changes, all filters together. */
export interface UpdateSet {
    readonly version: string;
    readonly objects: readonly ObjectUpdate[];
}

/** Whatever sends one vim25 call: the transport itself, or a session that re-logs in and counts. */
export interface VimCaller {
    call(method: string, target: MoRef, params: string, options?: CallOptions): Promise<XmlElement>;
}

/** The typed vim25 calls the driver needs, nothing more. */
export class VimClient {
    private content: ServiceContent | undefined;

    /**
     * `caller` defaults to the transport; a shared session passes one that re-logs in once
     * after NotAuthenticated, and each VM's driver one that counts that VM's calls.
     */
    constructor(
        readonly transport: SoapTransport,
        private readonly caller: VimCaller = transport,
        content?: ServiceContent,
    ) {
        this.content = content;
    }

    /** A vim25 method this client has no typed call for, through its caller (re-login, counting). */
    invoke(method: string, obj: MoRef, params: string, options?: CallOptions): Promise<XmlElement> {
        return this.caller.call(method, obj, params, options);
    }

    /** The same session and service content, calls sent through `caller`. */
    withCaller(caller: VimCaller): VimClient {
        return new VimClient(this.transport, caller, this.content);
    }

    get serviceContent(): ServiceContent {
        if (!this.content) throw new Error("RetrieveServiceContent has not been called");
        return this.content;
    }

    async retrieveServiceContent(): Promise<ServiceContent> {
        const response = await this.caller.call("RetrieveServiceContent", { type: "ServiceInstance", value: "ServiceInstance" }, "");
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
        await this.caller.call(
            "Login",
            this.serviceContent.sessionManager,
            xmlParam("userName", userName) + xmlParam("password", password),
        );
    }

    async logout(): Promise<void> {
        try {
            await this.caller.call("Logout", this.serviceContent.sessionManager, "");
        } finally {
            this.transport.forgetSession();
        }
    }

    async findByInventoryPath(path: string): Promise<MoRef | undefined> {
        const response = await this.caller.call("FindByInventoryPath", this.serviceContent.searchIndex, xmlParam("inventoryPath", path));
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
            const response = await this.caller.call("FindAllByUuid", this.serviceContent.searchIndex, params);
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

    /** Every VM under `container` with the text of `paths`, via a ContainerView (one listing, all pages). */
    async findVms(container: MoRef, paths: readonly string[]): Promise<Array<{ ref: MoRef; values: Map<string, string> }>> {
        const viewManager = this.serviceContent.viewManager;
        if (!viewManager) throw new Error("this vSphere endpoint has no ViewManager; name the VM by inventory path or moid instead");
        const created = await this.caller.call(
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
            await this.caller.call("DestroyView", view, "").catch(() => undefined);
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

    /**
     * Reads `paths` of many objects of one type in one RetrievePropertiesEx. Objects the server
     * no longer knows are left out of the answer (reportMissingObjectsInResults) instead of
     * failing the whole read. Answers each object's values by its moid.
     */
    async retrievePropertiesOfMany(objs: readonly MoRef[], paths: readonly string[]): Promise<Map<string, PropertyValues>> {
        const spec =
            xmlElement("propSet", xmlParam("type", objs[0]?.type ?? "VirtualMachine") + paths.map((p) => xmlParam("pathSet", p)).join("")) +
            objs.map((obj) => xmlElement("objectSet", xmlMoRef("obj", obj))).join("") +
            xmlParam("reportMissingObjectsInResults", true);
        const found = new Map<string, PropertyValues>();
        for await (const object of this.retrieveAll(spec)) {
            const ref = moRefOf(child(object, "obj"));
            if (!ref) continue;
            const values = new Map<string, XmlElement>();
            for (const property of children(object, "propSet")) {
                const name = childText(property, "name");
                const value = child(property, "val");
                if (name !== undefined && value) values.set(name, value);
            }
            found.set(ref.value, values);
        }
        return found;
    }

    async shutdownGuest(vm: MoRef): Promise<void> {
        await this.caller.call("ShutdownGuest", vm, "");
    }

    async powerOffTask(vm: MoRef): Promise<MoRef> {
        return this.taskOf("PowerOffVM_Task", await this.caller.call("PowerOffVM_Task", vm, ""));
    }

    async powerOnTask(vm: MoRef): Promise<MoRef> {
        return this.taskOf("PowerOnVM_Task", await this.caller.call("PowerOnVM_Task", vm, ""));
    }

    /**
     * A PropertyCollector of the session's own. WaitForUpdatesEx on the service's one would race
     * with any other client of the same session (and vcsim 0.24 routes updates to one session only).
     */
    async createPropertyCollector(): Promise<MoRef> {
        const response = await this.caller.call("CreatePropertyCollector", this.serviceContent.propertyCollector, "");
        const collector = moRefOf(child(response, "returnval"));
        if (!collector) throw new Error("vSphere CreatePropertyCollector returned no collector");
        return collector;
    }

    /** Also cancels its pending wait and destroys its filters. */
    async destroyPropertyCollector(collector: MoRef): Promise<void> {
        await this.caller.call("DestroyPropertyCollector", collector, "");
    }

    /** A ListView over `objects`: one filter over it follows a set of objects that changes. */
    async createListView(objects: readonly MoRef[]): Promise<MoRef> {
        const viewManager = this.serviceContent.viewManager;
        if (!viewManager) throw new Error("this vSphere endpoint has no ViewManager");
        const response = await this.caller.call("CreateListView", viewManager, objects.map((o) => xmlMoRef("obj", o)).join(""));
        const view = moRefOf(child(response, "returnval"));
        if (!view) throw new Error("vSphere CreateListView returned no view");
        return view;
    }

    /** Adds and removes objects of a ListView; answers the objects the server could not add. */
    async modifyListView(view: MoRef, add: readonly MoRef[], remove: readonly MoRef[]): Promise<MoRef[]> {
        const params = add.map((o) => xmlMoRef("add", o)).join("") + remove.map((o) => xmlMoRef("remove", o)).join("");
        const response = await this.caller.call("ModifyListView", view, params);
        return children(response, "returnval").flatMap((r) => moRefOf(r) ?? []);
    }

    async destroyView(view: MoRef): Promise<void> {
        await this.caller.call("DestroyView", view, "");
    }

    /**
     * One filter over every object of a ListView, with `paths` per object type
     * (`VirtualMachine` → `runtime.powerState`, `Task` → `info.state`).
     */
    async createViewFilter(collector: MoRef, view: MoRef, paths: Readonly<Record<string, readonly string[]>>): Promise<MoRef> {
        const traversal = xmlElement(
            "selectSet",
            xmlParam("name", "view") + xmlParam("type", "ListView") + xmlParam("path", "view") + xmlParam("skip", false),
            "TraversalSpec",
        );
        const propSets = Object.entries(paths)
            .map(([type, list]) => xmlElement("propSet", xmlParam("type", type) + list.map((p) => xmlParam("pathSet", p)).join("")))
            .join("");
        const spec = xmlElement("spec", propSets + xmlElement("objectSet", xmlMoRef("obj", view) + xmlParam("skip", true) + traversal));
        const response = await this.caller.call("CreateFilter", collector, spec + xmlParam("partialUpdates", false));
        const filter = moRefOf(child(response, "returnval"));
        if (!filter) throw new Error("vSphere CreateFilter returned no filter");
        return filter;
    }

    /**
     * Waits up to `maxWaitSeconds` for changes after `version` ("" = the current values at once).
     * Resolves undefined when nothing changed in time. Every filter's object changes, in order.
     */
    async waitForUpdates(
        collector: MoRef,
        version: string,
        maxWaitSeconds: number,
        options: CallOptions = {},
    ): Promise<UpdateSet | undefined> {
        const response = await this.caller.call(
            "WaitForUpdatesEx",
            collector,
            xmlParam("version", version) + xmlElement("options", xmlParam("maxWaitSeconds", maxWaitSeconds)),
            { ...options, timeoutMs: maxWaitSeconds * 1000 + 60_000 },
        );
        const updateSet = child(response, "returnval");
        if (!updateSet) return undefined;
        const objects: ObjectUpdate[] = [];
        for (const filterUpdate of children(updateSet, "filterSet")) {
            for (const objectUpdate of children(filterUpdate, "objectSet")) {
                const obj = moRefOf(child(objectUpdate, "obj"));
                if (!obj) continue;
                const changes = new Map<string, XmlElement | undefined>();
                for (const change of children(objectUpdate, "changeSet")) {
                    const name = childText(change, "name");
                    if (name !== undefined) changes.set(name, childText(change, "op") === "remove" ? undefined : child(change, "val"));
                }
                objects.push({ obj, kind: childText(objectUpdate, "kind") ?? "modify", changes });
            }
        }
        return { version: childText(updateSet, "version") ?? version, objects };
    }

    /** Ends a WaitForUpdatesEx the caller stopped listening to, so it cannot swallow later changes. */
    async cancelWaitForUpdates(collector: MoRef): Promise<void> {
        await this.caller.call("CancelWaitForUpdates", collector, "");
    }

    /** RetrievePropertiesEx, following ContinueRetrievePropertiesEx tokens across pages. */
    private async *retrieveAll(specSet: string): AsyncGenerator<XmlElement> {
        const collector = this.serviceContent.propertyCollector;
        let response = await this.caller.call(
            "RetrievePropertiesEx",
            collector,
            xmlElement("specSet", specSet) + xmlElement("options", ""),
        );
        for (;;) {
            const result = child(response, "returnval");
            yield* children(result, "objects");
            const token = childText(result, "token");
            if (!token) return;
            response = await this.caller.call("ContinueRetrievePropertiesEx", collector, xmlParam("token", token));
        }
    }

    private taskOf(method: string, response: XmlElement): MoRef {
        const task = moRefOf(child(response, "returnval"));
        if (!task) throw new Error(`vSphere ${method} returned no task`);
        return task;
    }
}
