/**
 * Proves the harness against the REAL dynamic-provider host with the toy provider (journal file as the
 * fake hypervisor). The runs build on each other, like successive `pulumi up`s on one stack.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { EngineError, Engine, UNKNOWN, serializeProvider, startEngine } from "./index";
import { Toy, ToyPair, toyProvider } from "./toyProvider";

const TOY_TYPE = "pulumi-nodejs:dynamic/toy:Toy";

/** A non-dynamic resource: the harness echoes its inputs, so `ip` is unknown in preview. */
class FakeNic extends pulumi.CustomResource {
    declare public readonly ip: pulumi.Output<string>;
    constructor(name: string) {
        super("fake:net:Nic", name, { ip: undefined });
    }
}

let engine: Engine;
let dir: string;
let journal: string;

function journalLines(): string[] {
    return fs.existsSync(journal) ? fs.readFileSync(journal, "utf8").trim().split("\n").filter(Boolean) : [];
}

/** Journal lines written by `fn`. */
async function journalDuring<T>(fn: () => Promise<T>): Promise<{ result: T; lines: string[] }> {
    const before = journalLines().length;
    const result = await fn();
    return { result, lines: journalLines().slice(before) };
}

beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "harness-"));
    journal = path.join(dir, "journal.log");
    // These tests are about the wire protocol: one host for the file keeps them fast (engineRules.test.ts
    // covers the engine's fresh host per operation).
    engine = await startEngine({ project: "harness", stack: "test", reuseHost: true });
});

afterAll(async () => {
    await engine?.close();
    fs.rmSync(dir, { recursive: true, force: true });
});

describe("mini engine over the real dynamic-provider host", () => {
    test("the host starts and reports how long that took", () => {
        expect(engine.hostStartMs).toBeGreaterThan(0);
        expect(engine.hostStartMs).toBeLessThan(20_000);
    });

    test("up creates a dynamic resource through the host", async () => {
        const { result, lines } = await journalDuring(() =>
            engine.up(() => {
                new Toy("web", { vmName: "web", size: 2, journal });
            }),
        );
        expect(lines).toEqual(["create web size=2 pw=undefined"]);
        expect(result.steps).toEqual([{ urn: `urn:pulumi:test::harness::${TOY_TYPE}::web`, name: "web", type: TOY_TYPE, op: "create" }]);
        expect(result.outputs("web")).toMatchObject({ vmName: "web", size: 2, power: "On", generation: 1 });
        expect(result.resources.map((r) => r.id)).toEqual(["toy-web"]);
        expect(engine.state()[0].provider).toContain("create");
        expect(() => result.outputs("nope")).toThrow(/no tracked resource named nope/);
    });

    test("the same inputs again are a no-op", async () => {
        const { result, lines } = await journalDuring(() =>
            engine.up(() => {
                new Toy("web", { vmName: "web", size: 2, journal });
            }),
        );
        expect(lines).toEqual([]);
        expect(result.steps.map((s) => s.op)).toEqual(["same"]);
        expect(result.outputs("web").generation).toBe(1);
    });

    test("a changed input is an update with the program seeing the new outputs", async () => {
        let seen: number | undefined;
        const { result, lines } = await journalDuring(() =>
            engine.up(() => {
                const t = new Toy("web", { vmName: "web", size: 4, journal });
                t.generation.apply((g) => {
                    seen = g;
                });
            }),
        );
        expect(lines).toEqual(["update toy-web size=2->4 pw=undefined"]);
        expect(result.steps.map((s) => [s.op, s.replaces])).toEqual([["update", []]]);
        expect(result.outputs("web")).toMatchObject({ size: 4, generation: 2 });
        expect(seen).toBe(2);
    });

    test("preview with an unknown name plans an update, changes nothing", async () => {
        const stateBefore = engine.state();
        const { result, lines } = await journalDuring(() =>
            engine.up(
                () => {
                    // A non-dynamic resource whose `ip` output is not an input: unknown during preview.
                    const nic = new FakeNic("nic");
                    new Toy("web", { vmName: nic.ip.apply((x) => `web-${x}`), size: 4, journal });
                },
                { preview: true },
            ),
        );
        expect(lines).toEqual([]);
        expect(result.steps.map((s) => s.op)).toEqual(["update"]);
        expect(result.steps[0].replaces).toEqual([]);
        expect(result.outputs("web").vmName).toBe(UNKNOWN);
        expect(engine.state()).toEqual(stateBefore);
    });

    test("preview of a rename plans a replace without touching the hypervisor", async () => {
        const { result, lines } = await journalDuring(() =>
            engine.up(
                () => {
                    new Toy("web", { vmName: "web2", size: 4, journal });
                },
                { preview: true },
            ),
        );
        expect(lines).toEqual([]);
        expect(result.steps.map((s) => [s.op, s.replaces])).toEqual([["replace", ["vmName"]]]);
        expect(engine.state()[0].outputs.vmName).toBe("web");
    });

    test("a rename replaces (delete before create, as the provider asks)", async () => {
        const { result, lines } = await journalDuring(() =>
            engine.up(() => {
                new Toy("web", { vmName: "web2", size: 4, journal });
            }),
        );
        expect(lines).toEqual(["delete toy-web", "create web2 size=4 pw=undefined"]);
        expect(result.steps.map((s) => [s.op, s.replaces])).toEqual([["replace", ["vmName"]]]);
        expect(result.resources.map((r) => r.id)).toEqual(["toy-web2"]);
    });

    test("Check failures reject up with property: reason lines and change nothing", async () => {
        const stateBefore = engine.state();
        let err: unknown;
        const { lines } = await journalDuring(() =>
            engine
                .up(() => {
                    new Toy("web", { vmName: "Web_2", size: -1, journal });
                })
                .catch((e: unknown) => {
                    err = e;
                }),
        );
        expect(err).toBeInstanceOf(EngineError);
        const e = err as EngineError;
        expect(e.message).toContain("vmName: must match");
        expect(e.message).toContain("size: must be a positive number");
        expect(e.checkFailures).toEqual([
            { name: "web", property: "vmName", reason: 'must match ^[a-z][a-z0-9-]*$, got "Web_2"' },
            { name: "web", property: "size", reason: "must be a positive number" },
        ]);
        expect(e.result?.checkFailures).toHaveLength(2);
        expect(e.step.name).toBe("web");
        expect(lines).toEqual([]);
        expect(engine.state()).toEqual(stateBefore);
    });

    test("a provider throw rejects up with an EngineError carrying its message", async () => {
        let err: unknown;
        await engine
            .up(() => {
                new Toy("web", { vmName: "web2", size: 8, journal, failOn: "update" });
            })
            .catch((e: unknown) => {
                err = e;
            });
        expect(err).toBeInstanceOf(EngineError);
        const e = err as EngineError;
        expect(e.message).toBe("toy: update refused for toy-web2");
        expect(e.grpcCode).toBe(2);
        expect(e.step).toMatchObject({ name: "web", op: "update" });
        // the failed update left the old state in place
        expect(engine.state()[0].outputs).toMatchObject({ size: 4, generation: 1 });
        // and the engine is usable again afterwards
        const res = await engine.up(() => {
            new Toy("web", { vmName: "web2", size: 4, journal });
        });
        expect(res.steps.map((s) => s.op)).toEqual(["same"]);
    });

    test("a secret input reaches the provider unwrapped and stays secret in outputs, never in logs", async () => {
        const pw = "s3cr3t-Pa55-" + Date.now();
        let programSawSecret: boolean | undefined;
        const { result, lines } = await journalDuring(() =>
            engine.up(() => {
                const t = new Toy("web", { vmName: "web2", size: 4, journal, password: pulumi.secret(pw) });
                void pulumi.isSecret(t.password).then((s) => {
                    programSawSecret = s;
                });
            }),
        );
        expect(lines).toEqual(["update toy-web2 size=4->4 pw=string"]);
        expect(result.outputs("web").password).toBe(pw);
        expect(result.secretOutputs("web")).toEqual(["password"]);
        expect(programSawSecret).toBe(true);
        const raw = engine.state()[0].raw.outputs.password as Record<string, unknown>;
        expect(raw.value).toBe(pw);
        expect(Object.values(raw)).toContain("1b47061264138c4ac30d75fd1eb44270");
        expect(engine.hostLogs()).not.toContain(pw);
    });

    test("additionalSecretOutputs marks outputs secret", async () => {
        const result = await engine.up(() => {
            new Toy("web", { vmName: "web2", size: 4, journal }, { additionalSecretOutputs: ["power"] });
        });
        expect(result.steps.map((s) => s.op)).toEqual(["update"]);
        expect(result.secretOutputs("web")).toEqual(["power"]);
    });

    test("refresh reads drift into outputs but not inputs", async () => {
        fs.writeFileSync(journal + ".drift.json", JSON.stringify({ "toy-web2": { power: "Off" } }));
        const { result, lines } = await journalDuring(() => engine.refresh());
        expect(lines).toEqual(["read toy-web2"]);
        expect(result.steps.map((s) => s.op)).toEqual(["read"]);
        expect(result.outputs("web").power).toBe("Off");
        expect(result.secretOutputs("web")).toEqual(["power"]);
        expect(engine.state()[0].inputs.power).toBeUndefined();
    });

    test("components with dynamic children, warnings, and removal deletes in reverse order", async () => {
        let names: string[] | undefined;
        const { result, lines } = await journalDuring(() =>
            engine.up(() => {
                new Toy("web", { vmName: "web2", size: 4, journal }, { additionalSecretOutputs: ["power"] });
                const pair = new ToyPair("pair", { journal, size: 100 });
                pair.names.apply((n) => {
                    names = n;
                });
            }),
        );
        expect(lines).toEqual(["create pair-a size=100 pw=undefined", "create pair-a-peer size=100 pw=undefined"]);
        expect(names).toEqual(["pair-a", "pair-a-peer"]);
        // pair-b depends on pair-a's output, so it registers after it; web is independent of both.
        expect(result.steps.filter((s) => s.name !== "web").map((s) => [s.name, s.op])).toEqual([
            ["pair-a", "create"],
            ["pair-b", "create"],
        ]);
        expect(result.steps.find((s) => s.name === "web")?.op).toBe("same");
        expect(result.steps.find((s) => s.name === "pair-a")?.urn).toBe(
            "urn:pulumi:test::harness::toy:index:ToyPair$pulumi-nodejs:dynamic/toy:Toy::pair-a",
        );
        expect(result.warnings.some((w) => w.includes("toy: pair-a is large (100)"))).toBe(true);

        const removal = await journalDuring(() =>
            engine.up(() => {
                new Toy("web", { vmName: "web2", size: 4, journal }, { additionalSecretOutputs: ["power"] });
            }),
        );
        expect(removal.lines).toEqual(["delete toy-pair-a-peer", "delete toy-pair-a"]);
        expect(removal.result.steps.map((s) => [s.name, s.op])).toEqual([
            ["web", "same"],
            ["pair-b", "delete"],
            ["pair-a", "delete"],
        ]);
        expect(engine.state().map((r) => r.name)).toEqual(["web"]);
    });

    test("destroy deletes independent resources as one parallel group (ScheduleDeletes)", async () => {
        await engine.up(() => {
            new Toy("web", { vmName: "web2", size: 4, journal });
            new Toy("db", { vmName: "db", size: 1, journal });
        });
        const { result, lines } = await journalDuring(() => engine.destroy());
        expect([...lines].sort()).toEqual(["delete toy-db", "delete toy-web2"]);
        expect(result.deleteGroups.map((g) => [...g].sort())).toEqual([["db", "web"]]);
        expect(result.steps.map((s) => s.op)).toEqual(["delete", "delete"]);
        expect(engine.state()).toEqual([]);
    });

    test("a create failure leaves nothing in state", async () => {
        await expect(
            engine.up(() => {
                new Toy("bad", { vmName: "bad", size: 1, journal, failOn: "create" });
            }),
        ).rejects.toThrow("toy: create refused for bad");
        expect(engine.state()).toEqual([]);
    });

    test("serializeProvider gives the provider text", async () => {
        const { text, bytes } = await serializeProvider(toyProvider);
        expect(bytes).toBe(Buffer.byteLength(text));
        expect(text).toContain("journalAppend");
        expect(text).toContain("exports.handler");
    });
});

describe("failures outside the provider", () => {
    test("a provider that cannot be serialized fails the run fast instead of hanging", async () => {
        class Captures {
            journal = "x";
            // An arrow property capturing `this`: the closure serializer refuses it.
            check = async (_o: unknown, news: Record<string, unknown>) => ({ inputs: { ...news, j: this.journal } });
            async create(inputs: Record<string, unknown>) {
                return { id: "x", outs: inputs };
            }
        }
        class Unserializable extends pulumi.dynamic.Resource {
            constructor(name: string) {
                super(new Captures() as unknown as pulumi.dynamic.ResourceProvider, name, {});
            }
        }
        const started = Date.now();
        const p = engine.up(() => {
            new Toy("keep", { vmName: "keep", size: 1, journal });
            new Unserializable("unserializable");
        });
        await expect(p).rejects.toThrow(/unhandled rejection during the program run: .*captured 'this'/s);
        expect(Date.now() - started).toBeLessThan(10_000);
        expect(engine.state().map((r) => r.name)).not.toContain("unserializable");
    });

    test("the engine is usable after a serialization failure", async () => {
        const result = await engine.up(() => {
            new Toy("keep", { vmName: "keep", size: 1, journal });
        });
        // `keep` was created by the failed run (its registration did not depend on the broken one).
        expect(result.steps.map((s) => [s.name, s.op])).toEqual([["keep", "same"]]);
    });

    test("a program that throws rejects up with its own error, and deletes nothing", async () => {
        const { lines } = await journalDuring(() =>
            expect(
                engine.up(async () => {
                    throw new Error("program bug");
                }),
            ).rejects.toThrow("program bug"),
        );
        expect(lines).toEqual([]);
        expect(engine.state().map((r) => r.name)).toEqual(["keep"]);
    });

    test("preview of a new resource plans a create and shows inputs as outputs", async () => {
        const result = await engine.up(
            () => {
                new Toy("keep", { vmName: "keep", size: 1, journal });
                new Toy("fresh", { vmName: "fresh", size: 3, journal });
            },
            { preview: true },
        );
        expect(result.steps.map((s) => [s.name, s.op])).toEqual([
            ["keep", "same"],
            ["fresh", "create"],
        ]);
        expect(result.outputs("fresh")).toMatchObject({ vmName: "fresh", size: 3 });
        expect(result.resources.find((r) => r.name === "fresh")?.id).toBe("");
        expect(engine.state().map((r) => r.name)).toEqual(["keep"]);
        await engine.destroy();
    });
});

describe("resource options", () => {
    afterEach(async () => {
        // leave nothing protected behind for the next test
        await engine.up(() => undefined).catch(() => undefined);
    });

    test("a replace without deleteBeforeReplace creates the new one first and deletes the old one at the end", async () => {
        await engine.up(() => {
            new Toy("z", { vmName: "z", size: 1, journal, zone: "a" });
        });
        const { result, lines } = await journalDuring(() =>
            engine.up(() => {
                // Independent resources register in no guaranteed order (as with the engine): dependsOn fixes it.
                const z = new Toy("z", { vmName: "z", size: 1, journal, zone: "b" });
                new Toy("other", { vmName: "other", size: 1, journal }, { dependsOn: [z] });
            }),
        );
        expect(lines).toEqual(["create z size=1 pw=undefined", "create other size=1 pw=undefined", "delete toy-z@a"]);
        expect(result.steps.map((s) => [s.name, s.op, s.replaces])).toEqual([
            ["z", "replace", ["zone"]],
            ["other", "create", undefined],
        ]);
        expect(result.resources.map((r) => r.id)).toEqual(["toy-z@b", "toy-other"]);
    });

    test("the deleteBeforeReplace option turns it into delete-then-create", async () => {
        await engine.up(() => {
            new Toy("z", { vmName: "z", size: 1, journal, zone: "a" });
        });
        const { lines } = await journalDuring(() =>
            engine.up(() => {
                new Toy("z", { vmName: "z", size: 1, journal, zone: "b" }, { deleteBeforeReplace: true });
            }),
        );
        expect(lines).toEqual(["delete toy-z@a", "create z size=1 pw=undefined"]);
    });

    test("ignoreChanges keeps the old input value", async () => {
        await engine.up(() => {
            new Toy("ig", { vmName: "ig", size: 1, journal, label: "one" });
        });
        const { result, lines } = await journalDuring(() =>
            engine.up(() => {
                new Toy("ig", { vmName: "ig", size: 1, journal, label: "two" }, { ignoreChanges: ["label"] });
            }),
        );
        expect(lines).toEqual([]);
        expect(result.steps.map((s) => s.op)).toEqual(["same"]);
        expect(result.outputs("ig").label).toBe("one");
    });

    test("protect refuses deletion and replacement; retainOnDelete skips the provider's Delete", async () => {
        await engine.up(() => {
            new Toy("p", { vmName: "p", size: 1, journal }, { protect: true });
            new Toy("r", { vmName: "r", size: 1, journal }, { retainOnDelete: true });
        });
        await expect(
            engine.up(() => {
                new Toy("p", { vmName: "p2", size: 1, journal }, { protect: true });
                new Toy("r", { vmName: "r", size: 1, journal }, { retainOnDelete: true });
            }),
        ).rejects.toThrow(/unable to replace .*::p as it is currently marked for protection/);
        await expect(engine.destroy()).rejects.toThrow(/::p cannot be deleted because it is protected/);
        // the retained one is gone from state (destroy went in reverse order) but its VM was not deleted
        expect(engine.state().map((r) => r.name)).toEqual(["p"]);
        expect(journalLines()).not.toContain("delete toy-r");
        const { lines } = await journalDuring(() =>
            engine.up(() => {
                new Toy("p", { vmName: "p", size: 1, journal });
            }),
        );
        expect(lines).toEqual([]);
        const removal = await journalDuring(() => engine.destroy());
        expect(removal.lines).toEqual(["delete toy-p"]);
    });
});

describe("config", () => {
    test("config reaches the provider's configure in the host and pulumi.Config in the program", async () => {
        const configured: pulumi.dynamic.ResourceProvider & { region?: string } = {
            async configure(req: pulumi.dynamic.ConfigureRequest) {
                configured.region = req.config.get("region");
            },
            async create(inputs: Record<string, unknown>) {
                return { id: "c1", outs: { ...inputs, region: configured.region ?? "none" } };
            },
        };
        class Configured extends pulumi.dynamic.Resource {
            declare public readonly region: pulumi.Output<string>;
            constructor(name: string, args: { fromProgram: pulumi.Input<string> }) {
                super(configured, name, { region: undefined, ...args });
            }
        }
        const other = await startEngine({ project: "cfgproj", config: { region: "eu-west", "cfgproj:size": "3" } });
        try {
            const result = await other.up(() => {
                const cfg = new pulumi.Config();
                new Configured("c", { fromProgram: `${cfg.require("region")}/${cfg.require("size")}` });
            });
            expect(result.outputs("c")).toMatchObject({ region: "eu-west", fromProgram: "eu-west/3" });
            expect(result.steps[0].urn).toBe("urn:pulumi:stack::cfgproj::pulumi-nodejs:dynamic:Resource::c");
        } finally {
            await other.close();
        }
    });
});

describe("program mistakes", () => {
    test("two dynamic resources with the same URN fail the run", async () => {
        await expect(
            engine.up(() => {
                new Toy("dup", { vmName: "dup", size: 1, journal });
                new Toy("dup", { vmName: "dup-2", size: 1, journal });
            }),
        ).rejects.toThrow(/Duplicate resource URN 'urn:pulumi:test::harness::pulumi-nodejs:dynamic\/toy:Toy::dup'/);
        const result = await engine.destroy();
        expect(result.steps.map((s) => s.name)).toEqual(["dup"]);
    });
});
