/**
 * Size of the VmPower provider as stored in every resource's state (`__provider`), next to what
 * a provider that captured the runtime by value would store.
 */
import * as pulumi from "@pulumi/pulumi";
import * as runtime from "../src/providers/runtime";
import { vmPowerProvider } from "../src/providers/provider";

async function serializedBytes(provider: object): Promise<number> {
    const serialized = await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true });
    return Buffer.byteLength(serialized.text);
}

async function main(): Promise<void> {
    const shim = await serializedBytes(vmPowerProvider);
    const byValue: pulumi.dynamic.ResourceProvider = {
        check: (olds, news) => runtime.check(olds, news),
        diff: (id, olds, news) => runtime.diff(id, olds, news),
        create: (inputs) => runtime.create(inputs),
        read: (id, props) => runtime.read(id, props),
        update: (id, olds, news) => runtime.update(id, olds, news),
        delete: (id, props) => runtime.remove(id, props),
    };
    let captured = "failed to serialize";
    let ratio = "n/a";
    try {
        const bytes = await serializedBytes(byValue);
        captured = `${bytes} bytes`;
        ratio = (bytes / shim).toFixed(1);
    } catch (e) {
        captured = `does not serialize (${String(e).split("\n")[0]})`;
    }
    console.log(`provider-size: shim ${shim} bytes; runtime captured by value: ${captured}; ratio ${ratio}x`);
}

main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
});
