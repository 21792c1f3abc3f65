import { unknownValue } from "../../src/operations/inputs";
import { diff } from "../../src/providers/runtime";

const inputs = {
    platform: "custom",
    target: { module: "/opt/d.js", name: "web-1", options: { vm: "web-1" } },
    powerState: "OffGraceful",
    gracefulShutdownTimeout: "60s",
    forceAfterTimeout: true,
    shutdownOnDestroy: "graceful",
    stopBeforeDeallocate: "graceful",
    waitForGuestAgent: false,
};
const olds = { ...inputs, observedPowerState: "stopped" };

describe("VmPower diff", () => {
    test("no change when desired is satisfied by what was observed", async () => {
        expect(await diff("id", olds, inputs)).toMatchObject({ changes: false, replaces: [] });
    });

    test("a power change is an update, never a replacement", async () => {
        const result = await diff("id", olds, { ...inputs, powerState: "On" });
        expect(result).toMatchObject({ changes: true, replaces: [], deleteBeforeReplace: false });
    });

    test("drift seen by refresh (observed running, desired off) asks for an update", async () => {
        const result = await diff("id", { ...olds, observedPowerState: "running" }, inputs);
        expect(result).toMatchObject({ changes: true, replaces: [] });
    });

    test("Off and OffGraceful are both satisfied by a stopped VM", async () => {
        expect((await diff("id", olds, { ...inputs, powerState: "Off" })).replaces).toEqual([]);
        expect((await diff("id", { ...olds, powerState: "Off" }, { ...inputs, powerState: "Off" })).changes).toBe(false);
    });

    test("a different VM (identity field) is a replacement", async () => {
        const result = await diff("id", olds, { ...inputs, target: { ...inputs.target, name: "web-2" } });
        expect(result).toMatchObject({ changes: true, replaces: ["target"], deleteBeforeReplace: true });
    });

    test("spelling out what the platform would assume anyway is no replacement", async () => {
        const result = await diff("id", olds, { ...inputs, target: { ...inputs.target, options: { vm: "web-1", extra: 1 } } });
        expect(result.replaces).toEqual([]);
    });

    test("a target not known yet (preview) is an update, not an announced replacement", async () => {
        const result = await diff("id", olds, { ...inputs, target: { ...inputs.target, name: unknownValue } });
        expect(result).toMatchObject({ changes: true, replaces: [] });
    });

    test("a timeout change is an update", async () => {
        expect(await diff("id", olds, { ...inputs, gracefulShutdownTimeout: "5m" })).toMatchObject({ changes: true, replaces: [] });
    });

    test("the whole target unknown (the engine asking before it replaces the VM delete-first) is a delete-first replacement", async () => {
        const result = await diff("id", olds, { ...inputs, target: unknownValue });
        expect(result).toMatchObject({ changes: true, replaces: ["target"], deleteBeforeReplace: true });
    });

    test("the VM's own resource replaced (a new id, or one not known yet) replaces the power resource delete-first", async () => {
        const tied = { ...olds, vmResourceId: "vm-1" };
        expect(await diff("id", tied, { ...inputs, vmResourceId: "vm-2" })).toMatchObject({
            replaces: ["vmResourceId"],
            deleteBeforeReplace: true,
        });
        expect(await diff("id", tied, { ...inputs, vmResourceId: unknownValue })).toMatchObject({ replaces: ["vmResourceId"] });
        expect(await diff("id", tied, { ...inputs, vmResourceId: "vm-1" })).toMatchObject({ changes: false, replaces: [] });
    });

    test("tying an existing power resource to its VM's resource is an update, not a replacement", async () => {
        expect(await diff("id", olds, { ...inputs, vmResourceId: "vm-1" })).toMatchObject({ changes: true, replaces: [] });
    });
});
