import { check } from "../../src/providers/runtime";
import { unknownValue } from "../../src/operations/inputs";

const good = {
    platform: "custom",
    target: { module: "/opt/driver.js", options: { vm: "web-1" } },
    powerState: "OffGraceful",
    gracefulShutdownTimeout: "2m",
};

async function failures(news: Record<string, unknown>): Promise<{ property: string; reason: string }[]> {
    const result = await check({}, news);
    return result.failures ?? [];
}

describe("VmPower check", () => {
    test("accepts good inputs and fills defaults", async () => {
        const result = await check({}, good);
        expect(result.failures).toEqual([]);
        expect(result.inputs).toMatchObject({
            forceAfterTimeout: true,
            shutdownOnDestroy: "graceful",
            waitForGuestAgent: false,
            stopBeforeDeallocate: "graceful",
        });
    });

    const bad: [string, Record<string, unknown>, string, RegExp][] = [
        ["duration text", { gracefulShutdownTimeout: "soon" }, "gracefulShutdownTimeout", /duration such as/],
        ["negative duration", { gracefulShutdownTimeout: "-1m" }, "gracefulShutdownTimeout", /negative/],
        ["zero duration", { gracefulShutdownTimeout: 0 }, "gracefulShutdownTimeout", /greater than zero/],
        ["duration with spaces", { gracefulShutdownTimeout: "1m 30s" }, "gracefulShutdownTimeout", /duration such as/],
        ["duration too long", { gracefulShutdownTimeout: "48h" }, "gracefulShutdownTimeout", /at most 24h/],
        ["duration as object", { gracefulShutdownTimeout: { m: 1 } }, "gracefulShutdownTimeout", /duration such as/],
        ["unknown power state", { powerState: "Hibernate" }, "powerState", /must be one of On, Off, OffGraceful, Deallocated/],
        ["power state in lower case", { powerState: "off" }, "powerState", /must be one of/],
        ["power state as number", { powerState: 1 }, "powerState", /must be one of/],
        ["shutdownOnDestroy", { shutdownOnDestroy: "maybe" }, "shutdownOnDestroy", /graceful, hard, none/],
        ["stopBeforeDeallocate", { stopBeforeDeallocate: "soft" }, "stopBeforeDeallocate", /"graceful" or "hard"/],
        ["forceAfterTimeout as string", { forceAfterTimeout: "yes" }, "forceAfterTimeout", /true or false/],
        ["waitForGuestAgent as number", { waitForGuestAgent: 1 }, "waitForGuestAgent", /true or false/],
        ["unknown argument", { gracefulTimeout: "1m" }, "gracefulTimeout", /not a known argument/],
        ["unknown platform", { platform: "hyperv" }, "platform", /must be one of libvirt, vsphere, proxmox, azure, custom/],
        ["missing platform", { platform: undefined }, "platform", /must be one of/],
        ["missing target", { target: undefined }, "target.custom", /is required/],
        ["target not an object", { target: "web-1" }, "target.custom", /must be an object/],
        ["missing driver module", { target: { options: {} } }, "target.custom.module", /is required/],
        ["relative driver module", { target: { module: "./driver.js" } }, "target.custom.module", /package name or an absolute path/],
        ["driver module with a newline", { target: { module: "/a\nb" } }, "target.custom.module", /control characters/],
        ["driver options not an object", { target: { module: "/d.js", options: [1] } }, "target.custom.options", /must be an object/],
        ["credential not a string", { credentials: { secrets: { token: 5 } } }, "target.custom.secrets.token", /must be a string/],
        [
            "Deallocated where unsupported",
            { platform: "libvirt", target: {}, powerState: "Deallocated" },
            "powerState",
            /only supported on Azure/,
        ],
    ];

    test.each(bad)("rejects %s, naming the field", async (_title, change, field, reason) => {
        const found = await failures({ ...good, ...change });
        const failure = found.find((f) => f.property === field);
        expect(failure).toBeDefined();
        expect(failure?.reason).toMatch(reason);
    });

    test("reports every problem at once", async () => {
        const found = await failures({ ...good, powerState: "Up", gracefulShutdownTimeout: "x", forceAfterTimeout: "no" });
        expect(found.map((f) => f.property).sort()).toEqual(["forceAfterTimeout", "gracefulShutdownTimeout", "powerState"]);
    });

    test("values not known yet (preview) are not judged", async () => {
        const found = await failures({ ...good, target: { module: unknownValue }, gracefulShutdownTimeout: unknownValue });
        expect(found).toEqual([]);
    });

    test("never echoes a credential in a failure", async () => {
        const found = await failures({ ...good, credentials: { secrets: { token: { nested: "s3cr3t-value" } } } });
        expect(JSON.stringify(found)).not.toContain("s3cr3t-value");
        expect(found[0].property).toBe("target.custom.secrets.token");
    });
});
