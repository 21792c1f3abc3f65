import { vmPowerProvider } from "../../src/providers/provider";
import { serializeProvider } from "../harness";

describe("VmPower provider serialization", () => {
    test("serializes to a small shim that loads the runtime by package name", async () => {
        const { text, bytes } = await serializeProvider(vmPowerProvider);
        expect(text).toContain('require("pulumi-graceful-vm/provider-runtime")');
        for (const method of ["check", "diff", "create", "read", "update", "delete"]) {
            expect(text).toMatch(new RegExp(`${method}: __f\\d+`));
        }
        // No platform client, no core logic, no configuration travels in state.
        expect(text).not.toMatch(/virsh|RetrieveServiceContent|PVEAPIToken|management\.azure\.com|runTransition/);
        expect(bytes).toBeLessThan(4096);
    });

    test("the serialized text loads and exposes every provider method", async () => {
        const { text } = await serializeProvider(vmPowerProvider);
        const module = { exports: {} as { handler?: () => Record<string, unknown> } };
        new Function("module", "exports", "require", text)(module, module.exports, require);
        const handler = module.exports.handler?.();
        expect(Object.keys(handler ?? {}).sort()).toEqual(["check", "create", "delete", "diff", "read", "update"]);
    });
});
