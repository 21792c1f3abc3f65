/**
 * A "mini engine" (shared/notes/pulumi-testing.md, layer 3): runs a Pulumi program under
 * `pulumi.runtime.setMocks`, and forwards every dynamic resource (`pulumi-nodejs:dynamic*`) to the REAL
 * dynamic-provider host over gRPC, doing what the engine does around it:
 *
 *  - the host answers Configure with acceptSecrets=false, so secret envelopes are stripped before each
 *    call and outputs are re-marked secret where the matching input was secret (or listed in
 *    `additionalSecretOutputs`);
 *  - Check (olds/news) → Create when new, else Diff → same / Update / replace (delete-before-create when the
 *    provider or the resource option asks for it, else create then delete the old one at the end);
 *  - preview runs only Check and Diff; unknowns travel as the engine's sentinel string;
 *  - after the program, dynamic resources that were not registered again are deleted (reverse order).
 *
 * Resource options honoured: additionalSecretOutputs, deleteBeforeReplace, ignoreChanges (top-level keys
 * only), protect (deleting or replacing fails), retainOnDelete (the provider's Delete is skipped).
 *
 * It is not the engine: no parallelism (dynamic operations run one at a time, in registration order), no
 * custom timeouts, retries, replaceOnChanges, nested ignoreChanges paths, aliases, imports or `get`.
 * Deletions go in reverse creation order, not by dependency graph. Non-dynamic resources (components,
 * other providers' resources) get fake outputs: inputs echoed, id = name + "-id".
 * Only one engine can run at a time in a process (setMocks is global); runs on one engine are exclusive.
 */
import * as pulumi from "@pulumi/pulumi";
import { Host, HostCallError, ProtoStruct, fromStruct, providerPb, startHost, toStruct } from "./host";

/** The engine's wire encoding of an unknown value (what a provider sees during preview). */
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
const SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
const RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e";
const PROVIDER_KEY = "__provider";

export interface ResourceRecord {
    urn: string;
    type: string;
    name: string;
    id: string;
    /** Last inputs (after Check), secrets unwrapped, without `__provider`. */
    inputs: Record<string, unknown>;
    /** Outputs (state), secrets unwrapped, without `__provider`. */
    outputs: Record<string, unknown>;
    /** Top-level output keys that are secret. */
    secretOutputs: string[];
    /** The serialized provider text (`__provider`), unwrapped. */
    provider: string;
    /** Wire form as the engine would store it: secret envelopes kept, `__provider` included. */
    raw: { inputs: Record<string, unknown>; outputs: Record<string, unknown> };
}

export type StepOp = "create" | "update" | "same" | "replace" | "delete" | "read";

export interface Step {
    urn: string;
    name: string;
    type: string;
    op: StepOp;
    /** Diff's detailed result where one was asked */
    replaces?: string[];
}

export interface CheckFailure {
    name: string;
    property: string;
    reason: string;
}

export interface RunResult {
    /** only dynamic resources' steps, in order */
    steps: Step[];
    /** dynamic resources after the run (for a preview: the planned ones; unknowns are the UNKNOWN string) */
    resources: ResourceRecord[];
    /** outputs of the dynamic resource with that name (or URN) (throws if absent); secrets unwrapped */
    outputs(name: string): Record<string, unknown>;
    /** keys whose output is secret */
    secretOutputs(name: string): string[];
    /** from Check */
    checkFailures: CheckFailure[];
    /** host log lines starting "warning:" during the run */
    warnings: string[];
}

/** A provider operation failed (or Check reported failures): `up`, `refresh` and `destroy` reject with this. */
export class EngineError extends Error {
    step: Step;
    grpcCode?: number;
    /** Set when Check reported failures. */
    checkFailures?: CheckFailure[];
    /** What the run did before it failed (state already reflects completed operations). */
    result?: RunResult;

    constructor(message: string, step: Step, grpcCode?: number, checkFailures?: CheckFailure[]) {
        super(message);
        this.name = "EngineError";
        this.step = step;
        this.grpcCode = grpcCode;
        this.checkFailures = checkFailures;
    }
}

export interface UpOptions {
    /** Check + Diff only, nothing changes; unknowns allowed. */
    preview?: boolean;
}

export interface Engine {
    up(program: () => void | Promise<void>, options?: UpOptions): Promise<RunResult>;
    /** Read for each dynamic resource; updates stored outputs (state), not inputs */
    refresh(): Promise<RunResult>;
    /** Delete for every dynamic resource, reverse creation order */
    destroy(): Promise<RunResult>;
    state(): ResourceRecord[];
    /** everything the host printed so far */
    hostLogs(): string;
    /** Milliseconds the host took to print its port. */
    readonly hostStartMs: number;
    close(): Promise<void>;
}

export interface FakeResourceArgs {
    type: string;
    name: string;
    /** Inputs as the mocks see them (secrets as envelopes, unknowns as `pulumi.Unknown` in preview). */
    inputs: Record<string, unknown>;
    custom: boolean;
}

export interface EngineOptions {
    project?: string;
    stack?: string;
    /** Config for the host's Configure and for `pulumi.Config` in programs; keys "proj:key" or "key". */
    config?: Record<string, string>;
    /**
     * Extra outputs for non-dynamic resources (merged over the echoed inputs). Their id is always
     * `name + "-id"`. Return `undefined` to keep the default.
     */
    fakeOutputs?: (args: FakeResourceArgs) => Record<string, unknown> | undefined;
}

// ---------------------------------------------------------------------------------------------------------
// wire helpers

type Props = Record<string, unknown>;

function isObject(v: unknown): v is Props {
    return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isSecretEnvelope(v: unknown): v is { value: unknown } {
    return isObject(v) && v[SIG_KEY] === SECRET_SIG;
}

function wrapSecret(v: unknown): Props {
    return { [SIG_KEY]: SECRET_SIG, value: v };
}

/** What a provider with acceptSecrets=false / acceptResources=false gets: no envelopes, references as ids. */
function toProviderValue(v: unknown): unknown {
    if (Array.isArray(v)) {
        return v.map(toProviderValue);
    }
    if (isObject(v)) {
        const sig = v[SIG_KEY];
        if (sig === SECRET_SIG) {
            return toProviderValue(v.value);
        }
        if (sig === RESOURCE_SIG) {
            const id = v.id;
            return typeof id === "string" ? (id === "" ? UNKNOWN : id) : v.urn;
        }
        const out: Props = {};
        for (const [k, x] of Object.entries(v)) {
            out[k] = toProviderValue(x);
        }
        return out;
    }
    return v;
}

function toProviderProps(p: Props): Props {
    return toProviderValue(p) as Props;
}

function containsSecret(v: unknown): boolean {
    if (isSecretEnvelope(v)) {
        return true;
    }
    if (Array.isArray(v)) {
        return v.some(containsSecret);
    }
    if (isObject(v)) {
        return Object.values(v).some(containsSecret);
    }
    return false;
}

/** The engine's annotateSecrets: mark outputs secret where the same path was secret in `ins`. */
function annotateSecrets(outs: unknown, ins: unknown): unknown {
    if (isSecretEnvelope(ins)) {
        return isSecretEnvelope(outs) ? outs : wrapSecret(outs);
    }
    if (isObject(outs) && isObject(ins) && !isSecretEnvelope(outs)) {
        const res: Props = {};
        for (const [k, v] of Object.entries(outs)) {
            res[k] = k in ins ? annotateSecrets(v, ins[k]) : v;
        }
        return res;
    }
    if (Array.isArray(outs) && Array.isArray(ins)) {
        return outs.map((v, i) => (i < ins.length ? annotateSecrets(v, ins[i]) : v));
    }
    return outs;
}

function secretKeysOf(p: Props): string[] {
    return Object.keys(p).filter((k) => containsSecret(p[k]));
}

function stripProvider(p: Props): Props {
    const { [PROVIDER_KEY]: _omit, ...rest } = p;
    void _omit;
    return rest;
}

function canonical(v: unknown): string {
    return JSON.stringify(v, (_k, x: unknown) =>
        isObject(x)
            ? Object.fromEntries(
                  Object.keys(x)
                      .sort()
                      .map((k) => [k, x[k]]),
              )
            : x,
    );
}

function hostErrorMessage(err: unknown): { message: string; code?: number } {
    const e = err as HostCallError;
    return { message: e?.details || e?.message || String(err), code: typeof e?.code === "number" ? e.code : undefined };
}

/**
 * The real `process`. Under Jest the test's `process` is a copy with its own listeners, so
 * `process.on("unhandledRejection")` there never fires; the real one is the main context's global.
 */
const realProcess: NodeJS.Process = (require("vm") as typeof import("vm")).runInThisContext("process");

type RejectionListener = (reason: unknown, promise: Promise<unknown>) => void;

/** Runs `fn` with `listener` as the only unhandledRejection listener of the real process. */
async function withRejectionListener<T>(listener: RejectionListener, fn: () => Promise<T>): Promise<T> {
    const saved = realProcess.listeners("unhandledRejection") as RejectionListener[];
    realProcess.removeAllListeners("unhandledRejection");
    realProcess.on("unhandledRejection", listener);
    try {
        return await fn();
    } finally {
        // Rejections of the SDK's output promises surface after the current macrotask: let them arrive here.
        await new Promise((resolve) => setImmediate(resolve));
        await sleep(5);
        realProcess.removeListener("unhandledRejection", listener);
        for (const l of saved) {
            realProcess.on("unhandledRejection", l);
        }
    }
}

function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------------------------------------------------
// state

interface Stored {
    urn: string;
    type: string;
    name: string;
    id: string;
    /** checked inputs, wire form (secret envelopes), with __provider */
    inputs: Props;
    /** outputs, wire form, with __provider */
    outputs: Props;
    /** resource options from the last registration */
    protect?: boolean;
    retainOnDelete?: boolean;
}

/** The setters a DiffRequest and an UpdateRequest share. */
interface ChangeRequest {
    setId(id: string): unknown;
    setUrn(urn: string): unknown;
    setName(name: string): unknown;
    setType(type: string): unknown;
    setOlds(olds: ProtoStruct): unknown;
    setNews(news: ProtoStruct): unknown;
    setOldInputs(oldInputs: ProtoStruct): unknown;
}

/** Fills a Diff or Update request: the resource, its prior outputs and inputs, and the checked news. */
function priorAndNews<R extends ChangeRequest>(
    req: R,
    prior: Stored,
    resource: { urn: string; name: string; type: string },
    checked: Props,
): R {
    req.setId(prior.id);
    req.setUrn(resource.urn);
    req.setName(resource.name);
    req.setType(resource.type);
    req.setOlds(toStruct(toProviderProps(prior.outputs)));
    req.setNews(toStruct(checked));
    req.setOldInputs(toStruct(toProviderProps(prior.inputs)));
    return req;
}

function toRecord(s: Stored): ResourceRecord {
    const provider = toProviderValue(s.inputs[PROVIDER_KEY] ?? s.outputs[PROVIDER_KEY]);
    return {
        urn: s.urn,
        type: s.type,
        name: s.name,
        id: s.id,
        inputs: stripProvider(toProviderProps(s.inputs)),
        outputs: stripProvider(toProviderProps(s.outputs)),
        secretOutputs: secretKeysOf(stripProvider(s.outputs)),
        provider: typeof provider === "string" ? provider : "",
        raw: { inputs: structuredClone(s.inputs), outputs: structuredClone(s.outputs) },
    };
}

function makeResult(steps: Step[], resources: Stored[], checkFailures: CheckFailure[], warnings: string[]): RunResult {
    const records = resources.map(toRecord);
    const find = (name: string): ResourceRecord => {
        const r = records.find((x) => (name.startsWith("urn:") ? x.urn === name : x.name === name));
        if (!r) {
            throw new Error(`no dynamic resource named ${name}; have: ${records.map((x) => x.name).join(", ")}`);
        }
        return r;
    };
    return {
        steps,
        resources: records,
        outputs: (name) => find(name).outputs,
        secretOutputs: (name) => find(name).secretOutputs,
        checkFailures,
        warnings,
    };
}

class Run {
    steps: Step[] = [];
    checkFailures: CheckFailure[] = [];
    registered = new Set<string>();
    /** resources replaced create-before-delete: their old incarnation is deleted at the end */
    pendingDeletes: Stored[] = [];
    /** planned records (preview) */
    planned = new Map<string, Stored>();
    error?: Error;
    private queue: Promise<unknown> = Promise.resolve();
    private rejectFailed!: (e: Error) => void;
    readonly failed: Promise<never>;

    constructor(
        readonly preview: boolean,
        readonly logStart: number,
    ) {
        this.failed = new Promise<never>((_resolve, reject) => {
            this.rejectFailed = reject;
        });
        this.failed.catch(() => undefined);
    }

    fail(e: Error): void {
        if (!this.error) {
            this.error = e;
            this.rejectFailed(e);
        }
    }

    /** Runs dynamic-resource operations one at a time, in registration order. */
    enqueue<T>(fn: () => Promise<T>): Promise<T> {
        const p = this.queue.then(fn);
        this.queue = p.catch(() => undefined);
        return p;
    }

    drain(): Promise<unknown> {
        return this.queue;
    }
}

// ---------------------------------------------------------------------------------------------------------

class MiniEngine implements Engine {
    private stored: Stored[] = [];
    private run?: Run;
    private currentRequest: unknown;
    private closed = false;
    private busy = false;
    /**
     * Unhandled rejections during a run: the first one fails the run (closure-serialization errors surface
     * only this way); once the run has failed, the SDK's rejected outputs that follow are expected.
     */
    private readonly onRejection = (reason: unknown): void => {
        const run = this.run;
        if (run && !run.error) {
            const msg = reason instanceof Error ? reason.stack || reason.message : String(reason);
            run.fail(reason instanceof EngineError ? reason : new Error(`unhandled rejection during the program run: ${msg}`));
        }
    };

    constructor(
        private readonly host: Host,
        private readonly project: string,
        private readonly stack: string,
        private readonly options: EngineOptions,
    ) {}

    get hostStartMs(): number {
        return this.host.startMs;
    }

    state(): ResourceRecord[] {
        return this.stored.map(toRecord);
    }

    hostLogs(): string {
        return this.host.logs();
    }

    private warningsSince(start: number): string[] {
        return this.host
            .logs()
            .slice(start)
            .split("\n")
            .filter((l) => l.startsWith("warning:"));
    }

    private async settleRpcs(timeoutMs: number): Promise<void> {
        // eslint-disable-next-line @typescript-eslint/no-explicit-any
        const rt = pulumi.runtime as any; // waitForRPCs is internal
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([rt.waitForRPCs(), new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
        clearTimeout(timer);
    }

    private async exclusive<T>(fn: () => Promise<T>): Promise<T> {
        if (this.closed) {
            throw new Error("engine is closed");
        }
        if (this.busy) {
            throw new Error("another up/refresh/destroy is still running on this engine");
        }
        this.busy = true;
        try {
            return await fn();
        } finally {
            this.busy = false;
        }
    }

    private urnOf(parent: string, type: string, name: string): string {
        let t = type;
        if (parent) {
            const parentType = parent.split("::")[2].split("$").pop();
            t = `${parentType}$${type}`;
        }
        return `urn:pulumi:${this.stack}::${this.project}::${t}::${name}`;
    }

    // --- host calls -------------------------------------------------------------------------------------

    private async hostCall(step: Step, method: "check" | "diff" | "create" | "update" | "read" | "delete", req: unknown) {
        try {
            return await this.host.call(method, req);
        } catch (err) {
            const { message, code } = hostErrorMessage(err);
            throw new EngineError(message, step, code);
        }
    }

    /** Delete as the engine does: refuses protected resources, skips the provider for retainOnDelete. */
    private async hostDelete(s: Stored, step: Step): Promise<void> {
        if (s.protect) {
            throw new EngineError(`resource ${s.urn} cannot be deleted because it is protected (remove the protect option first)`, step);
        }
        if (s.retainOnDelete) {
            return;
        }
        const req = new providerPb.DeleteRequest();
        req.setId(s.id);
        req.setUrn(s.urn);
        req.setName(s.name);
        req.setType(s.type);
        req.setProperties(toStruct(toProviderProps(s.outputs)));
        req.setOldInputs(toStruct(toProviderProps(s.inputs)));
        await this.hostCall(step, "delete", req);
    }

    private async hostCreate(urn: string, name: string, type: string, checked: Props, step: Step) {
        const req = new providerPb.CreateRequest();
        req.setUrn(urn);
        req.setName(name);
        req.setType(type);
        req.setProperties(toStruct(checked));
        const resp = await this.hostCall(step, "create", req);
        return { id: resp.getId() as string, outs: fromStruct(resp.getProperties()) };
    }

    // --- one dynamic registration -------------------------------------------------------------------------

    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    private async registerDynamic(run: Run, req: any): Promise<{ id: string; state: Props }> {
        // req is a resource_pb.RegisterResourceRequest (generated protobuf; untyped)
        const type: string = req.getType();
        const name: string = req.getName();
        const urn = this.urnOf(req.getParent(), type, name);
        const wireNews = fromStruct(req.getObject());
        const dbrOption: boolean = req.getDeletebeforereplace();
        const additionalSecrets: string[] = req.getAdditionalsecretoutputsList();
        const protect: boolean = req.getProtect();
        const retainOnDelete: boolean = req.getRetainondelete();
        const ignoreChanges: string[] = req.getIgnorechangesList();
        const prior = this.stored.find((s) => s.urn === urn);
        const step: Step = { urn, name, type, op: prior ? "update" : "create" };
        if (run.registered.has(urn)) {
            throw new EngineError(`Duplicate resource URN '${urn}'; try giving it a unique name`, step);
        }
        run.registered.add(urn);

        if (run.error) {
            throw new Error(`skipped ${name}: the run already failed (${run.error.message})`);
        }

        const secretInputs = (outs: Props, ins: Props): Props => {
            const res = annotateSecrets(outs, ins) as Props;
            for (const k of additionalSecrets) {
                if (k in res && !isSecretEnvelope(res[k])) {
                    res[k] = wrapSecret(res[k]);
                }
            }
            return res;
        };

        // ignoreChanges (top-level keys only): keep the old input value, or drop the key if it had none.
        if (prior) {
            for (const key of ignoreChanges) {
                if (key in prior.inputs) {
                    wireNews[key] = prior.inputs[key];
                } else {
                    delete wireNews[key];
                }
            }
        }

        // Check
        const checkReq = new providerPb.CheckRequest();
        checkReq.setUrn(urn);
        checkReq.setName(name);
        checkReq.setType(type);
        checkReq.setOlds(toStruct(prior ? toProviderProps(prior.inputs) : {}));
        checkReq.setNews(toStruct(toProviderProps(wireNews)));
        const checkResp = await this.hostCall(step, "check", checkReq);
        // eslint-disable-next-line @typescript-eslint/no-explicit-any
        const failures: CheckFailure[] = (checkResp.getFailuresList() as any[]).map((f) => ({
            name,
            property: f.getProperty() as string,
            reason: f.getReason() as string,
        }));
        if (failures.length > 0) {
            run.checkFailures.push(...failures);
            const lines = failures.map((f) => `  ${f.property}: ${f.reason}`).join("\n");
            throw new EngineError(`Check failed for ${name} [${type}]:\n${lines}`, step, undefined, failures);
        }
        const checked = fromStruct(checkResp.getInputs());
        // The engine re-marks checked inputs secret where the program's inputs were (acceptSecrets=false).
        const checkedWire = annotateSecrets(checked, wireNews) as Props;

        const finish = (op: StepOp, id: string, outputs: Props, replaces?: string[]) => {
            step.op = op;
            if (replaces) {
                step.replaces = replaces;
            }
            run.steps.push(step);
            const rec: Stored = { urn, type, name, id, inputs: checkedWire, outputs, protect, retainOnDelete };
            if (run.preview) {
                run.planned.set(urn, rec);
            } else {
                const i = this.stored.findIndex((s) => s.urn === urn);
                if (i >= 0) {
                    this.stored[i] = rec;
                } else {
                    this.stored.push(rec);
                }
            }
            return { id, state: outputs };
        };

        if (!prior) {
            if (run.preview) {
                return finish("create", "", checkedWire);
            }
            const { id, outs } = await this.hostCreate(urn, name, type, checked, step);
            return finish("create", id, secretInputs(outs, checkedWire));
        }

        // Diff
        const diffReq = priorAndNews(new providerPb.DiffRequest(), prior, { urn, name, type }, checked);
        const diffResp = await this.hostCall(step, "diff", diffReq);
        const Changes = providerPb.DiffResponse.DiffChanges;
        let changes: number = diffResp.getChanges();
        const replaces: string[] = diffResp.getReplacesList();
        if (changes === Changes.DIFF_UNKNOWN) {
            // The engine falls back to comparing old and new inputs.
            const same = canonical(toProviderProps(prior.inputs)) === canonical(checked);
            changes = same ? Changes.DIFF_NONE : Changes.DIFF_SOME;
        }
        if (changes === Changes.DIFF_NONE) {
            return finish("same", prior.id, prior.outputs, []);
        }
        if (replaces.length > 0) {
            if (prior.protect) {
                throw new EngineError(
                    `unable to replace resource ${urn} as it is currently marked for protection (replaces: ${replaces.join(", ")})`,
                    step,
                );
            }
            if (run.preview) {
                return finish("replace", "", checkedWire, replaces);
            }
            if (diffResp.getDeletebeforereplace() || dbrOption) {
                await this.hostDelete(prior, step);
                // The old one is gone now, whatever happens next; the new one goes last (newest).
                this.stored = this.stored.filter((s) => s !== prior);
                const { id, outs } = await this.hostCreate(urn, name, type, checked, step);
                return finish("replace", id, secretInputs(outs, checkedWire), replaces);
            }
            const { id, outs } = await this.hostCreate(urn, name, type, checked, step);
            run.pendingDeletes.push(prior);
            return finish("replace", id, secretInputs(outs, checkedWire), replaces);
        }
        if (run.preview) {
            return finish("update", prior.id, checkedWire, []);
        }
        const upd = priorAndNews(new providerPb.UpdateRequest(), prior, { urn, name, type }, checked);
        const updResp = await this.hostCall(step, "update", upd);
        return finish("update", prior.id, secretInputs(fromStruct(updResp.getProperties()), checkedWire), []);
    }

    private fakeResource(args: pulumi.runtime.MockResourceArgs): { id: string; state: Props } {
        const inputs = args.inputs as Props;
        const extra = args.custom
            ? this.options.fakeOutputs?.({ type: args.type, name: args.name, inputs, custom: args.custom })
            : undefined;
        return { id: `${args.name}-id`, state: { ...inputs, ...(extra ?? {}) } };
    }

    // --- runs -----------------------------------------------------------------------------------------

    up(program: () => void | Promise<void>, options: UpOptions = {}): Promise<RunResult> {
        return this.exclusive(async () => {
            await this.settleRpcs(5000);
            const run = new Run(options.preview === true, this.host.logs().length);
            this.run = run;
            try {
                return await withRejectionListener(this.onRejection, async () => {
                    await this.installMocks(run);
                    return this.runProgram(run, program);
                });
            } finally {
                this.run = undefined;
            }
        });
    }

    /** setMocks with a newResource that forwards dynamic resources to the host; captures the raw requests. */
    private async installMocks(run: Run): Promise<void> {
        const preview = run.preview;
        const mocks: pulumi.runtime.Mocks = {
            newResource: async (args) => {
                const req = this.currentRequest;
                this.currentRequest = undefined;
                if (!args.type.startsWith("pulumi-nodejs:dynamic")) {
                    return this.fakeResource(args);
                }
                if (!req) {
                    throw new Error(`harness: no RegisterResourceRequest captured for ${args.name}`);
                }
                try {
                    return await run.enqueue(() => this.registerDynamic(run, req));
                } catch (err) {
                    run.fail(err as Error);
                    throw err;
                }
            },
            call: (args) => args.inputs,
        };
        await pulumi.runtime.setMocks(mocks, this.project, this.stack, preview);
        if (this.options.config) {
            this.setProgramConfig(this.options.config);
        }
        // eslint-disable-next-line @typescript-eslint/no-explicit-any
        const monitor: any = pulumi.runtime.getMonitor(); // the SDK's MockMonitor
        const orig = monitor.registerResource.bind(monitor);
        // eslint-disable-next-line @typescript-eslint/no-explicit-any
        monitor.registerResource = (req: any, cb: any) => {
            // MockMonitor calls mocks.newResource synchronously, which picks this up before any await.
            this.currentRequest = req;
            try {
                return orig(req, cb);
            } finally {
                this.currentRequest = undefined;
            }
        };
    }

    private async runProgram(run: Run, program: () => void | Promise<void>): Promise<RunResult> {
        const result = (): RunResult =>
            makeResult(run.steps, this.resultResources(run), run.checkFailures, this.warningsSince(run.logStart));
        const fail = async (err: Error): Promise<never> => {
            // Let the SDK finish (and reject) what is in flight, so nothing leaks into the next run.
            await this.settleRpcs(2000);
            if (err instanceof EngineError) {
                err.result = result();
            }
            throw err;
        };
        try {
            await Promise.race([
                (async () => {
                    await program();
                    // eslint-disable-next-line @typescript-eslint/no-explicit-any
                    await (pulumi.runtime as any).waitForRPCs(); // internal: drains registrations
                    // A registration that failed inside the SDK (closure serialization) reports only through
                    // an unhandled rejection, emitted after the microtask queue drains: give it a turn.
                    await new Promise((resolve) => setImmediate(resolve));
                    await sleep(5);
                })(),
                run.failed,
            ]);
            await run.drain();
        } catch (err) {
            return fail(run.error ?? (err as Error));
        }
        if (run.error) {
            return fail(run.error);
        }

        // Deletions: replaced resources' old incarnations, then resources no longer in the program.
        const gone = this.stored.filter((s) => !run.registered.has(s.urn)).reverse();
        try {
            for (const s of run.pendingDeletes) {
                await this.hostDelete(s, { urn: s.urn, name: s.name, type: s.type, op: "delete" });
            }
            for (const s of gone) {
                const step: Step = { urn: s.urn, name: s.name, type: s.type, op: "delete" };
                if (!run.preview) {
                    await this.hostDelete(s, step);
                    this.stored = this.stored.filter((x) => x !== s);
                }
                run.steps.push(step);
            }
        } catch (err) {
            return fail(err as Error);
        }
        return result();
    }

    private resultResources(run: Run): Stored[] {
        if (!run.preview) {
            return [...this.stored];
        }
        const planned = this.stored.filter((s) => run.registered.has(s.urn)).map((s) => run.planned.get(s.urn) ?? s);
        for (const [urn, rec] of run.planned) {
            if (!this.stored.some((s) => s.urn === urn)) {
                planned.push(rec);
            }
        }
        return planned;
    }

    private setProgramConfig(config: Record<string, string>): void {
        const qualified: Record<string, string> = {};
        for (const [k, v] of Object.entries(config)) {
            qualified[k.includes(":") ? k : `${this.project}:${k}`] = v;
        }
        // eslint-disable-next-line @typescript-eslint/no-explicit-any
        (pulumi.runtime as any).setAllConfig(qualified, []);
    }

    refresh(): Promise<RunResult> {
        return this.exclusive(async () => {
            await this.settleRpcs(5000);
            const logStart = this.host.logs().length;
            const steps: Step[] = [];
            for (const s of [...this.stored]) {
                const step: Step = { urn: s.urn, name: s.name, type: s.type, op: "read" };
                const req = new providerPb.ReadRequest();
                req.setId(s.id);
                req.setUrn(s.urn);
                req.setName(s.name);
                req.setType(s.type);
                req.setProperties(toStruct(toProviderProps(s.outputs)));
                req.setInputs(toStruct(toProviderProps(s.inputs)));
                let resp;
                try {
                    resp = await this.hostCall(step, "read", req);
                } catch (err) {
                    (err as EngineError).result = makeResult(steps, [...this.stored], [], this.warningsSince(logStart));
                    throw err;
                }
                const id: string = resp.getId();
                if (!id) {
                    // the resource is gone: the engine drops it from state
                    step.op = "delete";
                    this.stored = this.stored.filter((x) => x !== s);
                } else {
                    const outs = annotateSecrets(fromStruct(resp.getProperties()), s.outputs) as Props;
                    for (const k of secretKeysOf(s.outputs)) {
                        if (k in outs && !containsSecret(outs[k])) {
                            outs[k] = wrapSecret(outs[k]);
                        }
                    }
                    const i = this.stored.indexOf(s);
                    this.stored[i] = { ...s, id, outputs: outs };
                }
                steps.push(step);
            }
            return makeResult(steps, [...this.stored], [], this.warningsSince(logStart));
        });
    }

    destroy(): Promise<RunResult> {
        return this.exclusive(async () => {
            await this.settleRpcs(5000);
            const logStart = this.host.logs().length;
            const steps: Step[] = [];
            for (const s of [...this.stored].reverse()) {
                const step: Step = { urn: s.urn, name: s.name, type: s.type, op: "delete" };
                try {
                    await this.hostDelete(s, step);
                } catch (err) {
                    (err as EngineError).result = makeResult(steps, [...this.stored], [], this.warningsSince(logStart));
                    throw err;
                }
                this.stored = this.stored.filter((x) => x !== s);
                steps.push(step);
            }
            return makeResult(steps, [], [], this.warningsSince(logStart));
        });
    }

    async close(): Promise<void> {
        if (this.closed) {
            return;
        }
        this.closed = true;
        await this.settleRpcs(2000);
        await this.host.close();
    }
}

export async function startEngine(options: EngineOptions = {}): Promise<Engine> {
    const project = options.project ?? "project";
    const stack = options.stack ?? "stack";
    const config: Record<string, string> = {};
    for (const [k, v] of Object.entries(options.config ?? {})) {
        config[k.includes(":") ? k : `${project}:${k}`] = v;
    }
    const host = await startHost({ project, config });
    return new MiniEngine(host, project, stack, options);
}

/**
 * Serializes a dynamic provider exactly as `pulumi.dynamic.Resource` does (closure serializer, secrets
 * allowed). Rejects where a resource registration would fail only with an unhandled rejection.
 */
export async function serializeProvider(provider: object): Promise<{ text: string; bytes: number }> {
    const sf = await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true });
    return { text: sf.text, bytes: Buffer.byteLength(sf.text, "utf8") };
}
