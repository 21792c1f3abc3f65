import { BatchReader } from "../../src/drivers/vsphere/batchRead";
import { PropertyValues, VimClient } from "../../src/drivers/vsphere/client";
import { VimFault } from "../../src/drivers/vsphere/faults";
import { MoRef } from "../../src/drivers/vsphere/soap";
import { XmlElement } from "../../src/drivers/vsphere/xml";

const vm = (n: number): MoRef => ({ type: "VirtualMachine", value: `vm-${n}` });
const power = (text: string): PropertyValues =>
    new Map<string, XmlElement>([
        ["runtime.powerState", { name: "val", namespace: "urn:vim25", attributes: {}, xsiType: undefined, text, children: [] }],
    ]);

/** A client whose reads are recorded; `gone` VMs are missing from batches and fault alone. */
function fakeClient(options: { gone?: string[]; failBatch?: Error } = {}) {
    const calls: string[] = [];
    const client = {
        async retrievePropertiesOfMany(objs: readonly MoRef[]): Promise<Map<string, PropertyValues>> {
            calls.push(`many(${objs.map((o) => o.value).join(",")})`);
            if (options.failBatch) throw options.failBatch;
            return new Map(objs.filter((o) => !options.gone?.includes(o.value)).map((o) => [o.value, power(`on:${o.value}`)]));
        },
        async retrieveProperties(obj: MoRef): Promise<PropertyValues> {
            calls.push(`one(${obj.value})`);
            if (options.gone?.includes(obj.value))
                throw new VimFault("ManagedObjectNotFound", `RetrievePropertiesEx on ${obj.value}`, "", {});
            return power(`on:${obj.value}`);
        },
    };
    return { client: client as unknown as VimClient, calls };
}

const text = (values: PropertyValues): string | undefined => values.get("runtime.powerState")?.text;

describe("BatchReader", () => {
    test("reads asked in the same tick go out as one call; each gets its own object's values", async () => {
        const { client, calls } = fakeClient();
        const reader = new BatchReader(client);
        const values = await Promise.all([1, 2, 3].map((n) => reader.read(vm(n), ["runtime.powerState"])));
        expect(values.map(text)).toEqual(["on:vm-1", "on:vm-2", "on:vm-3"]);
        expect(calls).toEqual(["many(vm-1,vm-2,vm-3)"]);
        // Another tick, another call; a lone read is a plain read.
        expect(text(await reader.read(vm(4), ["runtime.powerState"]))).toBe("on:vm-4");
        expect(calls).toEqual(["many(vm-1,vm-2,vm-3)", "one(vm-4)"]);
    });

    test("an object missing from the batch is read alone, so only its VM gets ManagedObjectNotFound", async () => {
        const { client, calls } = fakeClient({ gone: ["vm-2"] });
        const reader = new BatchReader(client);
        const reads = [1, 2, 3].map((n) => reader.read(vm(n), ["runtime.powerState"]));
        await expect(reads[1]).rejects.toMatchObject({ faultType: "ManagedObjectNotFound" });
        expect((await Promise.all([reads[0], reads[2]])).map(text)).toEqual(["on:vm-1", "on:vm-3"]);
        expect(calls).toEqual(["many(vm-1,vm-2,vm-3)", "one(vm-2)"]);
    });

    test("a failed batch fails each of its reads with the error; other paths are other batches", async () => {
        const { client, calls } = fakeClient({ failBatch: new Error("socket hang up") });
        const reader = new BatchReader(client);
        const a = reader.read(vm(1), ["runtime.powerState"]);
        const b = reader.read(vm(2), ["runtime.powerState"]);
        const c = reader.read(vm(3), ["guest.guestState"]);
        await expect(a).rejects.toThrow("socket hang up");
        await expect(b).rejects.toThrow("socket hang up");
        await expect(c).resolves.toBeDefined();
        expect(calls).toEqual(["many(vm-1,vm-2)", "one(vm-3)"]);
    });
});
