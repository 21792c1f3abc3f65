/**
 * A tiny dynamic provider used only to prove the harness. Its "hypervisor" is a journal file (one line per
 * operation) whose path is an input; `<journal>.drift.json` ({ [id]: partial outputs }) simulates changes
 * made outside Pulumi, which `read` (refresh) picks up.
 */
import * as pulumi from "@pulumi/pulumi";

const UNKNOWN_VALUE = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

export interface ToyInputs {
    vmName: string;
    size: number;
    journal: string;
    password?: string;
    /** "create" | "update" | "delete": that operation throws */
    failOn?: string;
    /** Changing it replaces the resource, creating the new one before deleting the old. */
    zone?: string;
    /** Free-form, updated in place. */
    label?: string;
    /** Create, update and delete take this long (parallelism, interruption). */
    delayMs?: number;
}

export interface ToyOutputs extends ToyInputs {
    power: string;
    generation: number;
    /** The provider host process that made or last updated it. */
    hostPid: number;
}

function pause(ms: number | undefined): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms ?? 0));
}

function journalAppend(journal: string, line: string): void {
    const fs: typeof import("fs") = require("fs");
    fs.appendFileSync(journal, line + "\n");
}

function readDrift(journal: string, id: string): Record<string, unknown> {
    const fs: typeof import("fs") = require("fs");
    const file = journal + ".drift.json";
    if (!fs.existsSync(file)) {
        return {};
    }
    const all = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, Record<string, unknown>>;
    return all[id] ?? {};
}

export const toyProvider: pulumi.dynamic.ResourceProvider = {
    async check(_olds: ToyInputs, news: ToyInputs): Promise<pulumi.dynamic.CheckResult> {
        const failures: pulumi.dynamic.CheckFailure[] = [];
        const name = news.vmName as unknown;
        if (name !== UNKNOWN_VALUE && (typeof name !== "string" || !/^[a-z][a-z0-9-]*$/.test(name))) {
            failures.push({ property: "vmName", reason: `must match ^[a-z][a-z0-9-]*$, got ${JSON.stringify(name)}` });
        }
        const size = news.size as unknown;
        if (size !== UNKNOWN_VALUE && (typeof size !== "number" || size <= 0)) {
            failures.push({ property: "size", reason: "must be a positive number" });
        }
        if (typeof news.size === "number" && news.size > 64) {
            void pulumi.log.warn(`toy: ${news.vmName} is large (${news.size})`);
        }
        return { inputs: news, failures };
    },

    async diff(_id: string, olds: ToyOutputs, news: ToyInputs): Promise<pulumi.dynamic.DiffResult> {
        const replaces: string[] = [];
        const changed: string[] = [];
        for (const k of ["vmName", "size", "password", "journal", "failOn", "zone", "label", "delayMs"] as const) {
            if (olds[k] !== news[k]) {
                changed.push(k);
            }
        }
        // An unknown name may or may not change: plan an update, never a replace, until it is known.
        const renamed = changed.includes("vmName") && (news.vmName as unknown) !== UNKNOWN_VALUE;
        if (renamed) {
            replaces.push("vmName");
        }
        if (changed.includes("zone")) {
            replaces.push("zone");
        }
        // Two VMs cannot have the same name: a rename must delete first. A zone move can overlap.
        return { changes: changed.length > 0, replaces, deleteBeforeReplace: renamed };
    },

    async create(inputs: ToyInputs): Promise<pulumi.dynamic.CreateResult> {
        if (inputs.failOn === "create") {
            throw new Error(`toy: create refused for ${inputs.vmName}`);
        }
        await pause(inputs.delayMs);
        const id = `toy-${inputs.vmName}${inputs.zone ? "@" + inputs.zone : ""}`;
        journalAppend(inputs.journal, `create ${inputs.vmName} size=${inputs.size} pw=${typeof inputs.password}`);
        const outs: ToyOutputs = { ...inputs, power: "On", generation: 1, hostPid: process.pid };
        return { id, outs };
    },

    async update(id: string, olds: ToyOutputs, news: ToyInputs): Promise<pulumi.dynamic.UpdateResult> {
        if (news.failOn === "update") {
            throw new Error(`toy: update refused for ${id}`);
        }
        await pause(news.delayMs);
        journalAppend(news.journal, `update ${id} size=${olds.size}->${news.size} pw=${typeof news.password}`);
        const outs: ToyOutputs = { ...news, power: olds.power, generation: olds.generation + 1, hostPid: process.pid };
        return { outs };
    },

    async read(id: string, props: ToyOutputs): Promise<pulumi.dynamic.ReadResult> {
        journalAppend(props.journal, `read ${id}`);
        return { id, props: { ...props, ...readDrift(props.journal, id) } };
    },

    async delete(id: string, props: ToyOutputs): Promise<void> {
        if (props.failOn === "delete") {
            throw new Error(`toy: delete refused for ${id}`);
        }
        await pause(props.delayMs);
        journalAppend(props.journal, `delete ${id}`);
    },
};

export interface ToyArgs {
    vmName: pulumi.Input<string>;
    size: pulumi.Input<number>;
    journal: pulumi.Input<string>;
    password?: pulumi.Input<string>;
    failOn?: pulumi.Input<string>;
    zone?: pulumi.Input<string>;
    label?: pulumi.Input<string>;
    delayMs?: pulumi.Input<number>;
}

export class Toy extends pulumi.dynamic.Resource {
    declare public readonly vmName: pulumi.Output<string>;
    declare public readonly size: pulumi.Output<number>;
    declare public readonly password: pulumi.Output<string | undefined>;
    declare public readonly power: pulumi.Output<string>;
    declare public readonly generation: pulumi.Output<number>;
    declare public readonly hostPid: pulumi.Output<number>;

    constructor(name: string, args: ToyArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            toyProvider,
            name,
            { power: undefined, generation: undefined, hostPid: undefined, password: undefined, ...args },
            opts,
            "toy",
            "Toy",
        );
    }
}

/** A component with two Toy children, to prove components and registerOutputs work under the harness. */
export class ToyPair extends pulumi.ComponentResource {
    declare public readonly names: pulumi.Output<string[]>;

    constructor(name: string, args: { journal: string; size: number }, opts?: pulumi.ComponentResourceOptions) {
        super("toy:index:ToyPair", name, {}, opts);
        const a = new Toy(`${name}-a`, { vmName: `${name}-a`, size: args.size, journal: args.journal }, { parent: this });
        const b = new Toy(
            `${name}-b`,
            { vmName: a.vmName.apply((n) => `${n}-peer`), size: args.size, journal: args.journal },
            {
                parent: this,
            },
        );
        this.names = pulumi.all([a.vmName, b.vmName]);
        this.registerOutputs({ names: this.names });
    }
}
