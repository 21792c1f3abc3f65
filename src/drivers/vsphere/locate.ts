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

/** Finds the VM `target.vm` names, within `target.datacenter` when given. */
export async function locateVm(client: VimClient, target: VsphereTarget, description: string): Promise<MoRef> {
    const datacenter = target.datacenter ? await findDatacenter(client, target.datacenter, description) : undefined;
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
            if (found.type !== virtualMachine) throw new VmNotFoundError(description, `${path} is a ${found.type}, not a VirtualMachine`);
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
            const matches = await client.findVmsByName(selector.name, datacenter ?? client.serviceContent.rootFolder);
            return onlyMatch(
                matches,
                description,
                `no VM is called ${JSON.stringify(selector.name)}${target.datacenter ? ` in ${target.datacenter}` : ""}`,
                "name it by inventory path (DC/vm/folder/name), UUID or moid, or set datacenter",
            );
        }
    }
}

/** The one VM a search found: VmNotFoundError (`none`) for no match, AmbiguousVmError (`ambiguous`) for several. */
function onlyMatch(matches: MoRef[], description: string, none: string, ambiguous: string): MoRef {
    if (matches.length === 0) throw new VmNotFoundError(description, none);
    if (matches.length > 1) throw new AmbiguousVmError(description, matches, ambiguous);
    return matches[0];
}

async function findDatacenter(client: VimClient, name: string, description: string): Promise<MoRef> {
    const found = await client.findByInventoryPath(name);
    if (!found || found.type !== "Datacenter") {
        throw new VmNotFoundError(
            description,
            `datacenter ${JSON.stringify(name)} was not found${found ? ` (${name} is a ${found.type})` : ""}`,
        );
    }
    return found;
}
