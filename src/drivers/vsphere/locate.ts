import { VmNotFoundError } from "../../power/errors";
import { VimClient } from "./client";
import { MoRef } from "./soap";
import { VsphereTarget } from "./spec";

/** Several VMs match: acting on one of them at random would be worse than failing. */
export class AmbiguousVmError extends Error {
    constructor(description: string, matches: readonly MoRef[], hint: string) {
        super(`${description} matches ${matches.length} VMs (${matches.map((m) => m.value).join(", ")}); ${hint}`);
        this.name = "AmbiguousVmError";
    }
}

const virtualMachine = "VirtualMachine";

/**
 * Finds VMs for one session. Lookups the VMs of a fleet share are made once: a datacenter's
 * reference, and the list of VM names under a container (one ContainerView read answers every
 * VM named by name; a name missing from a list made before the lookup began is looked up in a
 * fresh list, once, so a VM created meanwhile is found).
 */
export class VmLocator {
    private readonly datacenters = new Map<string, Promise<MoRef | undefined>>();
    private readonly listings = new Map<string, { readonly serial: number; readonly names: Promise<Map<string, MoRef[]>> }>();
    private serial = 0;

    constructor(private readonly client: VimClient) {}

    /** Finds the VM `target.vm` names, within `target.datacenter` when given. */
    async locate(target: VsphereTarget, description: string): Promise<MoRef> {
        const client = this.client;
        const datacenter = target.datacenter ? await this.findDatacenter(target.datacenter, description) : undefined;
        const selector = target.selector;
        switch (selector.kind) {
            case "path": {
                // With a datacenter, a path may be relative to its VM folder (`folder/web-1`).
                const path =
                    target.datacenter && !selector.path.startsWith(`${target.datacenter}/`)
                        ? `${target.datacenter}/vm/${selector.path}`
                        : selector.path;
                const found = await client.findByInventoryPath(path);
                if (!found) throw new VmNotFoundError(description, `nothing at inventory path ${path}`);
                if (found.type !== virtualMachine)
                    throw new VmNotFoundError(description, `${path} is a ${found.type}, not a VirtualMachine`);
                return found;
            }
            case "uuid": {
                const matches = await client.findVmsByUuid(selector.uuid, datacenter ?? client.serviceContent.rootFolder, datacenter);
                return onlyMatch(
                    matches,
                    description,
                    "no VM has that instance or BIOS UUID",
                    "clones share a BIOS UUID: use the instance UUID (config.instanceUuid) or the moid",
                );
            }
            case "moid": {
                const ref = { type: virtualMachine, value: selector.moid };
                // Reading a property proves it exists (ManagedObjectNotFound otherwise).
                await client.retrieveProperties(ref, ["name"]);
                return ref;
            }
            case "name": {
                const matches = await this.vmsNamed(selector.name, datacenter ?? client.serviceContent.rootFolder);
                return onlyMatch(
                    matches,
                    description,
                    `no VM is called ${JSON.stringify(selector.name)}${target.datacenter ? ` in ${target.datacenter}` : ""}`,
                    "name it by inventory path (DC/vm/folder/name), UUID or moid, or set datacenter",
                );
            }
        }
    }

    private async vmsNamed(name: string, container: MoRef): Promise<MoRef[]> {
        const asked = this.serial;
        const key = `${container.type}:${container.value}`;
        let listing = this.listings.get(key) ?? this.list(key, container);
        let found = (await listing.names).get(name);
        if (!found && listing.serial <= asked) {
            // Listed before this lookup began: the VM may be newer than the list.
            listing =
                this.listings.get(key) === listing ? this.list(key, container) : (this.listings.get(key) ?? this.list(key, container));
            found = (await listing.names).get(name);
        }
        return found ?? [];
    }

    private list(key: string, container: MoRef): { serial: number; names: Promise<Map<string, MoRef[]>> } {
        const names = this.client.findVms(container, ["name"]).then((vms) => {
            const byName = new Map<string, MoRef[]>();
            for (const vm of vms) {
                const name = vm.values.get("name");
                if (name !== undefined) byName.set(name, [...(byName.get(name) ?? []), vm.ref]);
            }
            return byName;
        });
        const listing = { serial: ++this.serial, names };
        this.listings.set(key, listing);
        // A failed listing is not kept: the next lookup lists again.
        names.catch(() => {
            if (this.listings.get(key) === listing) this.listings.delete(key);
        });
        return listing;
    }

    private async findDatacenter(name: string, description: string): Promise<MoRef> {
        let lookup = this.datacenters.get(name);
        if (!lookup) {
            lookup = this.client.findByInventoryPath(name);
            this.datacenters.set(name, lookup);
            lookup.catch(() => this.datacenters.delete(name));
        }
        const found = await lookup;
        if (!found || found.type !== "Datacenter") {
            throw new VmNotFoundError(
                description,
                `datacenter ${JSON.stringify(name)} was not found${found ? ` (${name} is a ${found.type})` : ""}`,
            );
        }
        return found;
    }
}

/** Finds the VM `target.vm` names, within `target.datacenter` when given (no cache kept). */
export function locateVm(client: VimClient, target: VsphereTarget, description: string): Promise<MoRef> {
    return new VmLocator(client).locate(target, description);
}

/** The one VM a search found: VmNotFoundError (`none`) for no match, AmbiguousVmError (`ambiguous`) for several. */
function onlyMatch(matches: MoRef[], description: string, none: string, ambiguous: string): MoRef {
    if (matches.length === 0) throw new VmNotFoundError(description, none);
    if (matches.length > 1) throw new AmbiguousVmError(description, matches, ambiguous);
    return matches[0];
}
