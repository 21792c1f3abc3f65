import { PropertyValues, VimClient } from "./client";
import { MoRef } from "./soap";

/** More objects than this in one read make answers that take long to build and parse. */
const maxBatch = 250;

interface Pending {
    readonly obj: MoRef;
    readonly resolve: (values: PropertyValues) => void;
    readonly reject: (error: unknown) => void;
}

/**
 * Reads of the same properties that many VMs of a session ask for in the same tick (a fleet's
 * first reads, the verify reads after a shared wait answered many VMs at once) go out as one
 * RetrievePropertiesEx. An object missing from the answer (deleted, or a server that left it
 * out) is read on its own, so its ManagedObjectNotFound reaches only its VM; a failed batch
 * fails each of its reads with that error.
 */
export class BatchReader {
    private readonly queues = new Map<string, Pending[]>();

    constructor(private readonly client: VimClient) {}

    read(obj: MoRef, paths: readonly string[]): Promise<PropertyValues> {
        const key = `${obj.type}\n${paths.join("\n")}`;
        return new Promise((resolve, reject) => {
            let queue = this.queues.get(key);
            if (!queue) {
                queue = [];
                this.queues.set(key, queue);
                setImmediate(() => {
                    this.queues.delete(key);
                    for (let i = 0; i < (queue as Pending[]).length; i += maxBatch) {
                        void this.send((queue as Pending[]).slice(i, i + maxBatch), paths);
                    }
                });
            }
            queue.push({ obj, resolve, reject });
        });
    }

    private async send(batch: readonly Pending[], paths: readonly string[]): Promise<void> {
        if (batch.length === 1) {
            const [only] = batch;
            await this.client.retrieveProperties(only.obj, paths).then(only.resolve, only.reject);
            return;
        }
        let found: Map<string, PropertyValues>;
        try {
            found = await this.client.retrievePropertiesOfMany(
                batch.map((p) => p.obj),
                paths,
            );
        } catch (e) {
            for (const pending of batch) pending.reject(e);
            return;
        }
        for (const pending of batch) {
            const values = found.get(pending.obj.value);
            if (values) pending.resolve(values);
            else void this.client.retrieveProperties(pending.obj, paths).then(pending.resolve, pending.reject);
        }
    }
}
