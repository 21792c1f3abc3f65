/**
 * The engine's rules the harness models, each against the engine's source (pulumi/pulumi,
 * pkg/resource/deploy: step_generator.go, step.go, step_executor.go, deployment_executor.go;
 * pkg/resource/graph/dependency_graph.go). A fake "VM" resource (a non-dynamic custom resource with a
 * fake provider in this process) stands for the VM's own resource; Toy resources go through the real host.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { Engine, EngineError, FakeProvider, RunResult, UNKNOWN, startEngine } from "./index";
import { Toy } from "./toyProvider";

const VM_TYPE = "test:index:Vm";

/** The VM's own resource, as another provider's resource would be. */
class FakeVm extends pulumi.CustomResource {
    declare public readonly vmName: pulumi.Output<string>;
    declare public readonly zone: pulumi.Output<string>;
    constructor(name: string, args: { vmName: string; zone: string }, opts?: pulumi.CustomResourceOptions) {
        super(VM_TYPE, name, args, opts);
    }
}

let dir: string;
let journal: string;
const vmEvents: string[] = [];

/** A VM whose name or zone change replaces it (delete-first only when the user asks). */
const vmProvider: FakeProvider = {
    diff: (olds, news) => ({ replaces: ["vmName", "zone"].filter((k) => olds[k] !== news[k]) }),
    create: (_name, inputs) => {
        vmEvents.push(`vm-create ${inputs.vmName}@${inputs.zone}`);
        return { id: `vm-${inputs.vmName}@${inputs.zone}`, outputs: inputs };
    },
    delete: (id) => {
        vmEvents.push(`vm-delete ${id}`);
    },
};

function journalLines(): string[] {
    return fs.existsSync(journal) ? fs.readFileSync(journal, "utf8").trim().split("\n").filter(Boolean) : [];
}

/** When each provider operation ran, as "op name" in finishing order. */
function opsOf(result: RunResult): string[] {
    return result.timeline.map((t) => `${t.op} ${t.name}${t.reason && t.reason !== "removed" ? ` (${t.reason})` : ""}`);
}

async function withEngine(fn: (engine: Engine) => Promise<void>): Promise<void> {
    const engine = await startEngine({ project: "rules", stack: "test", fakeProviders: { [VM_TYPE]: vmProvider } });
    try {
        await fn(engine);
    } finally {
        await engine.close();
    }
}

beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "harness-rules-"));
    journal = path.join(dir, "journal.log");
});
afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
    vmEvents.length = 0;
});

describe("the engine's rules, as the harness runs them", () => {
    test("deletes go by the dependency graph in parallel groups, dependents first, the VM's own resource included (ScheduleDeletes)", async () => {
        await withEngine(async (engine) => {
            await engine.up(() => {
                const vm = new FakeVm("vm", { vmName: "web", zone: "a" });
                new Toy("power", { vmName: vm.vmName, size: 1, journal });
                new Toy("other", { vmName: "other", size: 1, journal });
            });
            vmEvents.length = 0;
            const result = await engine.destroy();
            // antichains from the bottom of the graph, reversed: the dependent alone first, then the rest at once
            expect(result.deleteGroups.map((g) => [...g].sort())).toEqual([["power"], ["other", "vm"]]);
            const power = result.timeline.find((t) => t.name === "power")!;
            const vm = result.timeline.find((t) => t.name === "vm")!;
            expect(power.endMs).toBeLessThanOrEqual(vm.startMs);
            expect(vmEvents).toEqual(["vm-delete vm-web@a"]);
            expect(engine.state()).toEqual([]);
        });
    });

    test("a delete-first replacement first deletes the dependents whose Diff, asked with the dependency unknown, says replace (calculateDependentReplacements)", async () => {
        await withEngine(async (engine) => {
            const program = (zone: string) => () => {
                const vm = new FakeVm("vm", { vmName: "web", zone }, { deleteBeforeReplace: true });
                // zone depends on the VM: asked with it unknown, the toy answers "replace" (a zone change replaces it)
                new Toy("dependent", { vmName: "dep", size: 1, journal, zone: vm.zone });
                // only a dependsOn edge: no input can change, never asked, kept
                new Toy("ordered", { vmName: "ord", size: 1, journal }, { dependsOn: [vm] });
            };
            await engine.up(program("a"));
            vmEvents.length = 0;
            const before = journalLines().length;
            const result = await engine.up(program("b"));
            expect(opsOf(result).filter((o) => !o.includes("ordered"))).toEqual([
                "delete dependent (dependent)",
                "delete vm (replaced)",
                "create vm",
                "create dependent",
            ]);
            expect(vmEvents).toEqual(["vm-delete vm-web@a", "vm-create web@b"]);
            expect(journalLines().slice(before)).toEqual(["delete toy-dep@a", "create dep size=1 pw=undefined"]);
            // registrations arrive in no fixed order (as with the engine): compare as a set
            expect(Object.fromEntries(result.steps.map((s) => [s.name, s.op]))).toEqual({
                vm: "replace",
                dependent: "replace",
                ordered: "same",
            });
            await engine.destroy();
        });
    });

    test("--replace replaces without asking Diff, create-before-delete unless deleteBeforeReplace (isTargetedReplace)", async () => {
        await withEngine(async (engine) => {
            const program = () => {
                new Toy("t", { vmName: "t", size: 1, journal });
            };
            await engine.up(program);
            const result = await engine.up(program, { replace: ["t"] });
            expect(result.steps.map((s) => [s.name, s.op, s.replaces])).toEqual([["t", "replace", ["id"]]]);
            expect(opsOf(result)).toEqual(["create t", "delete t (replaced)"]);
            await engine.destroy();
        });
    });

    test("the user's deleteBeforeReplace overrides the provider either way", async () => {
        await withEngine(async (engine) => {
            await engine.up(() => {
                new Toy("r", { vmName: "r1", size: 1, journal });
            });
            // the toy asks delete-first for a rename; false makes it create-first
            const cbd = await engine.up(() => {
                new Toy("r", { vmName: "r2", size: 1, journal }, { deleteBeforeReplace: false });
            });
            expect(opsOf(cbd)).toEqual(["create r", "delete r (replaced)"]);
            // a zone move is create-first by the provider; true makes it delete-first
            const dbr = await engine.up(() => {
                new Toy("r", { vmName: "r2", size: 1, journal, zone: "z" }, { deleteBeforeReplace: true });
            });
            expect(opsOf(dbr)).toEqual(["delete r (replaced)", "create r"]);
            await engine.destroy();
        });
    });

    test("replaceOnChanges acts on the keys the engine knows changed: none from the Node dynamic host, the input diff otherwise (applyReplaceOnChanges)", async () => {
        await withEngine(async (engine) => {
            await engine.up(() => {
                new Toy("roc", { vmName: "roc", size: 1, journal, label: "one" }, { replaceOnChanges: ["label"] });
                new FakeVm("vm", { vmName: "web", zone: "a" });
            });
            const result = await engine.up(() => {
                // the dynamic host's DiffResponse carries no changed keys: an update, not a replacement
                new Toy("roc", { vmName: "roc", size: 1, journal, label: "two" }, { replaceOnChanges: ["label"] });
                // a provider whose Diff is compared by inputs: the changed key is known, so it replaces
                new FakeVm("vm", { vmName: "web", zone: "a", extra: 1 } as never, { replaceOnChanges: ["extra"] });
            });
            expect(Object.fromEntries(result.steps.map((s) => [s.name, s.op]))).toEqual({ roc: "update", vm: "replace" });
            await engine.destroy();
        });
    });

    test("independent steps run at the same time in one host process (step executor, default parallelism)", async () => {
        await withEngine(async (engine) => {
            const result = await engine.up(() => {
                for (const n of ["p1", "p2", "p3"]) {
                    new Toy(n, { vmName: n, size: 1, journal, delayMs: 600 });
                }
            });
            const creates = result.timeline.filter((t) => t.op === "create");
            expect(creates).toHaveLength(3);
            // every create started before any other finished
            const lastStart = Math.max(...creates.map((c) => c.startMs));
            const firstEnd = Math.min(...creates.map((c) => c.endMs));
            expect(lastStart).toBeLessThan(firstEnd);
            expect(new Set(["p1", "p2", "p3"].map((n) => result.outputs(n).hostPid))).toEqual(new Set([result.hostPid]));
            await engine.destroy();
        });
    });

    test("every operation gets a fresh host process (plugins are loaded per deployment)", async () => {
        await withEngine(async (engine) => {
            const first = await engine.up(() => {
                new Toy("h", { vmName: "h", size: 1, journal, label: "1" });
            });
            const second = await engine.up(() => {
                new Toy("h", { vmName: "h", size: 1, journal, label: "2" });
            });
            const destroyed = await engine.destroy();
            expect(first.hostPid).not.toBe(second.hostPid);
            expect(destroyed.hostPid).not.toBe(second.hostPid);
            expect(second.outputs("h").hostPid).toBe(second.hostPid);
            expect(engine.hostStarts).toBeGreaterThanOrEqual(3);
        });
    });

    test("in preview a new resource's id is unknown, and so is everything built from it", async () => {
        await withEngine(async (engine) => {
            let seenId: string | undefined;
            const result = await engine.up(
                () => {
                    const a = new Toy("a", { vmName: "a", size: 1, journal });
                    a.id.apply((id) => (seenId = id));
                    new Toy("b", { vmName: a.id.apply((id) => `b-of-${id}`), size: 1, journal });
                },
                { preview: true },
            );
            expect(seenId).toBeUndefined();
            expect(result.resources.map((r) => [r.name, r.id])).toEqual([
                ["a", ""],
                ["b", ""],
            ]);
            expect(result.resources.find((r) => r.name === "b")?.inputs.vmName).toBe(UNKNOWN);
            expect(engine.state()).toEqual([]);
        });
    });

    test("an interrupted operation leaves pending operations, reported by the next run and then dropped", async () => {
        await withEngine(async (engine) => {
            const attempt = engine.up(
                () => {
                    new Toy("slow", { vmName: "slow", size: 1, journal, delayMs: 4000 });
                },
                { interruptAfterMs: 1500 },
            );
            const error = (await attempt.catch((e: unknown) => e)) as EngineError;
            expect(error).toBeInstanceOf(EngineError);
            expect(error.interrupted).toBe(true);
            expect(engine.pendingOperations()).toEqual([
                { urn: "urn:pulumi:test::rules::pulumi-nodejs:dynamic/toy:Toy::slow", type: "creating" },
            ]);
            expect(engine.state()).toEqual([]);
            const next = await engine.up(() => undefined);
            expect(next.warnings.join("\n")).toMatch(
                /1 pending operations from previous deployment[\s\S]*slow, interrupted while creating/,
            );
            expect(engine.pendingOperations()).toEqual([]);
        });
    });

    test("deletedWith skips the provider's Delete when the resource it names goes in the same operation (DeleteStep.Apply)", async () => {
        await withEngine(async (engine) => {
            await engine.up(() => {
                const vm = new FakeVm("vm", { vmName: "web", zone: "a" });
                new Toy("inside", { vmName: "inside", size: 1, journal }, { deletedWith: vm });
            });
            vmEvents.length = 0;
            const before = journalLines().length;
            const result = await engine.destroy();
            expect(result.steps.find((s) => s.name === "inside")).toMatchObject({ op: "delete", skipped: "deletedWith" });
            expect(journalLines().slice(before)).toEqual([]);
            expect(vmEvents).toEqual(["vm-delete vm-web@a"]);
        });
    });
});
