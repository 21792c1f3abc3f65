import * as fc from "fast-check";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { GracefulVm } from "../../components/gracefulVm";
import * as registry from "../../src/drivers/registry";
import { InputError, InputErrors } from "../../src/power/errors";
import { check } from "../../src/providers/runtime";
import { cli } from "../cli/helpers";
import { recordRegistrations } from "../components/mocks";

/**
 * The standing bad-input suite: values generated over every field and type, each sent through
 * all three doors (the CLI, the GracefulVm component, the provider's check). Each must be
 * refused before any platform is touched, naming the field the user wrote, without a stack
 * trace, and without quoting a secret back.
 */
type Platform = "libvirt" | "vsphere" | "proxmox" | "azure";

const good: Record<Platform, Record<string, unknown>> = {
    libvirt: { uri: "qemu:///system", domain: "web-1" },
    vsphere: { url: "https://vc.example.com/sdk", username: "svc", password: "pw-Good-1", vm: "web-1" },
    proxmox: { endpoint: "https://pve.example.com:8006", apiToken: "ci@pve!t=0f3c1a", node: "pve1", vmId: 105 },
    azure: { subscriptionId: "00000000-0000-0000-0000-000000000000", resourceGroupName: "rg", vmName: "vm-1" },
};
const secretFields: Record<Platform, readonly string[]> = {
    libvirt: [],
    vsphere: ["password"],
    proxmox: ["apiToken"],
    azure: ["clientSecret"],
};

const notString = fc.oneof(
    fc.integer(),
    fc.boolean(),
    fc.constant([]),
    fc.constant({}),
    fc.array(fc.string(), { minLength: 1, maxLength: 2 }),
);
const notBoolean = fc.oneof(fc.integer(), fc.constantFrom("yes", "true", "1", ""), fc.constant([]), fc.constant({}));
const withControl = fc.string({ maxLength: 8 }).map((s) => `a${s}${["\n", "\r", "\u0000", "\u0007", "\t"][s.length % 5]}b`);
const padded = fc.string({ minLength: 1, maxLength: 8 }).map((s) => ` x${s.replace(/\s/g, "")}`);
const tooLong = fc.integer({ min: 5_000, max: 20_000 }).map((n) => "a".repeat(n));
const badUrl = fc.oneof(
    fc.constantFrom(
        "http://host/",
        "ftp://host/",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "https://",
        "https://host/?q=1",
        "https://u:p@host/",
    ),
    fc.webUrl().map((u) => u.replace(/^https?:/, "http:")),
    withControl,
    notString,
);
const badText = fc.oneof(notString, withControl, padded, tooLong);
const badEnum = fc.oneof(
    notString,
    fc.string({ maxLength: 12 }).map((s) => `Zz${s}`),
);
const badPem = fc.oneof(
    notString,
    fc.string({ maxLength: 40 }),
    fc.constant("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"),
);
const badDuration = fc.oneof(
    fc.constantFrom("soon", "-3s", "0s", "1m 30s", "48h", ""),
    fc.boolean(),
    fc.constant({}),
    fc.integer({ max: 0 }),
);

/** Per platform: each field and generators of values that field must refuse. */
const fields: Record<Platform, Record<string, fc.Arbitrary<unknown>>> = {
    libvirt: {
        uri: fc.oneof(
            badUrl,
            fc.constantFrom(
                "qemu+ext:///system?command=/bin/sh",
                "qemu:///system?netcat=nc",
                "qemu+tls://h/system?no_verify=1",
                "esx://h/",
            ),
        ),
        domain: fc.oneof(notString, withControl, fc.constantFrom("a/b", "")),
        shutdownMode: badEnum,
        commandTimeout: badDuration,
        insecure: notBoolean,
    },
    vsphere: {
        url: badUrl,
        username: fc.oneof(badText, fc.constant("")),
        password: fc.oneof(notString, withControl, fc.constantFrom("", "   "), tooLong),
        vm: fc.oneof(notString, withControl, fc.constant("")),
        datacenter: fc.oneof(notString, withControl, fc.constantFrom("/DC1", "DC1/")),
        caCert: badPem,
        insecure: notBoolean,
    },
    proxmox: {
        endpoint: badUrl,
        apiToken: fc.oneof(notString, withControl, fc.constantFrom("", "nobody", "a@pve!t=", "ü@pve!t=x", "a@pve!t=sé cret")),
        node: fc.oneof(notString, fc.constantFrom("pve_1", "-pve", "")),
        vmId: fc.oneof(
            fc.integer({ max: 99 }),
            fc.integer({ min: 1_000_000_000 }),
            fc.double({ min: 100.1, max: 200.9, noInteger: true }),
            fc.boolean(),
        ),
        caCert: badPem,
        fingerprint: fc.oneof(
            notString,
            fc.stringMatching(/^[0-9A-F]{0,20}$/).map((s) => `AB:${s}`),
        ),
        insecure: notBoolean,
    },
    azure: {
        subscriptionId: fc.oneof(
            notString,
            fc.string({ maxLength: 20 }).map((s) => `not-a-guid-${s}`),
        ),
        resourceGroupName: fc.oneof(notString, withControl, fc.constantFrom("rg.", "a/b", "")),
        vmName: fc.oneof(notString, fc.constantFrom("-vm", "vm.", "a".repeat(65), "")),
        tenantId: fc.oneof(notString, fc.constantFrom("x", "-bad-.com", "")),
        clientId: fc.oneof(notString, fc.constantFrom("not-a-guid", "")),
        credential: badEnum,
        resourceManagerEndpoint: badUrl,
        authorityHost: badUrl,
        caCert: badPem,
        clientSecret: fc.oneof(notString, withControl, fc.constantFrom("", "   ", " padded ")),
    },
};

/** Power policy arguments every door takes (the CLI's config file takes these four). */
const policy: Record<string, fc.Arbitrary<unknown>> = {
    gracefulShutdownTimeout: badDuration,
    forceAfterTimeout: notBoolean,
    waitForGuestAgent: notBoolean,
    stopBeforeDeallocate: badEnum,
};

interface BadCase {
    readonly platform: Platform;
    /** Where the bad value goes: a target field, a policy argument, or an unknown key. */
    readonly kind: "target" | "policy" | "unknown";
    readonly key: string;
    readonly value: unknown;
    /** The field the error must name. */
    readonly field: string;
}

const platforms = Object.keys(good) as Platform[];
const knownKeys = new Set([
    ...Object.values(fields).flatMap(Object.keys),
    ...Object.keys(policy),
    "target",
    "powerState",
    "shutdownOnDestroy",
    "platform",
    "credentials",
]);
const unknownKey = fc
    .stringMatching(/^[a-z][a-zA-Z]{2,12}$/)
    .filter((k) => !knownKeys.has(k) && !["preStop", "lifecycle", "config"].includes(k));

const badCase: fc.Arbitrary<BadCase> = fc.constantFrom(...platforms).chain((platform) =>
    fc.oneof(
        {
            weight: 6,
            arbitrary: fc.constantFrom(...Object.keys(fields[platform])).chain((key) =>
                fields[platform][key].map((value) => ({
                    platform,
                    kind: "target" as const,
                    key,
                    value,
                    field: `target.${platform}.${key}`,
                })),
            ),
        },
        {
            weight: 2,
            arbitrary: fc
                .constantFrom(...Object.keys(policy))
                .chain((key) => policy[key].map((value) => ({ platform, kind: "policy" as const, key, value, field: key }))),
        },
        {
            weight: 1,
            arbitrary: unknownKey.map((key) => ({
                platform,
                kind: "target" as const,
                key,
                value: "x",
                field: `target.${platform}.${key}`,
            })),
        },
        { weight: 1, arbitrary: unknownKey.map((key) => ({ platform, kind: "unknown" as const, key, value: "x", field: key })) },
    ),
);

/** The user's view: a platform target with the bad value in it, and the arguments around it. */
function userArgs(c: BadCase): { target: Record<string, unknown>; args: Record<string, unknown> } {
    const target = { ...good[c.platform] };
    const args: Record<string, unknown> = {};
    if (c.kind === "target") {
        if (c.value === undefined) delete target[c.key];
        else target[c.key] = c.value;
    } else args[c.key] = c.value;
    return { target, args };
}

/** What must hold for every refusal: the right field named, no stack trace, no secret quoted back. */
function expectRefusal(c: BadCase, fieldsNamed: readonly string[], text: string): void {
    expect(fieldsNamed).toContain(c.field);
    expect(text).not.toMatch(/\n\s+at .+:\d+:\d+/);
    expect(text).not.toMatch(/TypeError|ReferenceError|Cannot read properties/);
    if (secretFields[c.platform].includes(c.key) && typeof c.value === "string" && c.value.trim().length >= 3) {
        expect(text).not.toContain(c.value.trim());
    }
}

const runs = Number(process.env.BAD_INPUT_RUNS ?? 300);
const seed = 13_2026;
const counted = { cli: 0, component: 0, check: 0 };

let platformCalls: jest.SpyInstance;
beforeEach(() => {
    platformCalls = jest.spyOn(registry, "loadDriverFactory");
});
afterEach(() => {
    // Refused before any platform call: no driver was ever loaded.
    expect(platformCalls).not.toHaveBeenCalled();
    platformCalls.mockRestore();
});
afterAll(() => {
    // The counts the closing note reports.
    process.stdout.write(`bad-input suite: ${counted.cli} via the CLI, ${counted.component} via GracefulVm, ${counted.check} via check\n`);
});

describe(`bad-input suite (${runs} generated inputs per door, seed ${seed})`, () => {
    test("the provider's check refuses each, naming the field", async () => {
        await fc.assert(
            fc.asyncProperty(badCase, async (c) => {
                const { target, args } = userArgs(c);
                const secret = Object.fromEntries(Object.entries(target).filter(([k]) => secretFields[c.platform].includes(k)));
                const plain = Object.fromEntries(Object.entries(target).filter(([k]) => !secretFields[c.platform].includes(k)));
                const result = await check({}, { platform: c.platform, target: plain, credentials: secret, ...args });
                const failures = result.failures ?? [];
                expectRefusal(
                    c,
                    failures.map((f) => f.property),
                    failures.map((f) => `${f.property}: ${f.reason}`).join("\n"),
                );
                counted.check++;
            }),
            { numRuns: runs, seed },
        );
    });

    test("GracefulVm refuses each at construction, naming the field", async () => {
        await recordRegistrations();
        fc.assert(
            fc.property(badCase, (c) => {
                const { target, args } = userArgs(c);
                let error: unknown;
                try {
                    new GracefulVm(`bad-${counted.component}`, { target: { [c.platform]: target }, ...args } as never);
                } catch (e) {
                    error = e;
                }
                expect(error instanceof InputError || error instanceof InputErrors).toBe(true);
                const named = error instanceof InputErrors ? error.errors.map((e) => e.field) : [(error as InputError).field];
                expectRefusal(c, named, (error as Error).message);
                counted.component++;
            }),
            { numRuns: runs, seed },
        );
        // eslint-disable-next-line @typescript-eslint/no-explicit-any -- internal SDK hook
        await (pulumi.runtime as any).waitForRPCs?.();
    });

    test("the CLI refuses each with exit code 2, naming the field", async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bad-inputs-"));
        try {
            await fc.assert(
                fc.asyncProperty(badCase, async (c) => {
                    const { target, args } = userArgs(c);
                    const config = path.join(dir, "config.json");
                    fs.writeFileSync(config, JSON.stringify({ target: { [c.platform]: target }, ...args }));
                    const result = await cli(["status", "--config", config], {});
                    expect(result.code).toBe(2);
                    const named = [...result.stderr.matchAll(/^graceful-vm: ([^\s:]+):/gm)].map((m) => m[1]);
                    expectRefusal(c, named, result.stderr + result.stdout);
                    counted.cli++;
                }),
                { numRuns: runs, seed },
            );
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});
