/**
 * A "mini engine" (see docs/pulumi-up.md): runs a Pulumi program under `pulumi.runtime.setMocks`, and
 * forwards every dynamic resource (`pulumi-nodejs:dynamic*`) to the REAL dynamic-provider host over gRPC,
 * doing what the engine (pulumi/pulumi pkg/resource/deploy) does around it:
 *
 *  - wire: the host answers Configure with acceptSecrets=false, so secret envelopes are stripped before each
 *    call and outputs re-marked secret where the matching input was secret (or listed in
 *    `additionalSecretOutputs`); unknowns travel as the engine's sentinel string;
 *  - steps (step_generator.go): Check (olds/news) → Create when new, else Diff → same / Update / replace.
 *    A replacement is create-before-delete (the old one deleted with the other deletes at the end) unless the
 *    provider or the user's `deleteBeforeReplace` asks for delete-first, which first deletes, in reverse
 *    dependency order, every dependent whose provider answers "replace" when asked Diff with the inputs that
 *    depend on the condemned resource set to unknown (calculateDependentReplacements); such a dependent is
 *    created again when the program registers it. `--replace` (`replace` option) replaces without asking the
 *    provider's Diff; `replaceOnChanges` turns a change of a listed key into a replacement, where the key is in
 *    the Diff's changed keys (the Node host reports none; the engine computes them only for DIFF_UNKNOWN);
 *  - parallelism (step_executor.go): registrations are processed as they arrive, up to `parallel` at once
 *    (default 4 × CPUs), all in ONE host process per operation; a fresh host for every preview, update,
 *    refresh and destroy (the engine loads plugins per deployment);
 *  - deletes (ScheduleDeletes): removed resources and the old halves of create-before-delete replacements are
 *    deleted by the dependency graph (parent, dependsOn, property dependencies, deletedWith) in antichains, each
 *    group in parallel, dependents first; `deletedWith` skips the provider's Delete when the resource it names is
 *    deleted in the same operation; `destroy` is the same schedule over the whole state;
 *  - preview: only Check and Diff; a new resource's id and outputs are unknown;
 *  - interruption: `interruptAfterMs` kills the host mid-operation; operations in flight become pending
 *    operations, reported as a warning by the next operation and then dropped, as the engine does.
 *
 * Resources tracked in state: dynamic resources, and custom resources whose type has a `fakeProviders` entry
 * (e.g. the VM's own resource, backed by a test's fake hypervisor). Other resources (components, untracked
 * custom resources) get fake outputs: inputs echoed, id = name + "-id" (unknown in preview).
 *
 * Resource options honoured: additionalSecretOutputs, deleteBeforeReplace (true/false/unset), deletedWith,
 * dependsOn, ignoreChanges (top-level keys only), protect, replaceOnChanges (top-level keys), retainOnDelete.
 * Not modelled: custom timeouts, retries, nested ignoreChanges paths, aliases, imports, `get`, targets.
 * Only one engine can run at a time in a process (setMocks is global); runs on one engine are exclusive.
 */
import * as os from "os";
import * as pulumi from "@pulumi/pulumi";
import { GraphNode, dependentsOf, scheduleDeletes } from "./graph";
import { Host, ProtoStruct, fromStruct, providerPb, startHost, toStruct } from "./host";
import {
    PROVIDER_KEY,
    Props,
    UNKNOWN,
    annotateSecrets,
    canonical,
    containsSecret,
    hostErrorMessage,
    isSecretEnvelope,
    secretKeysOf,
    sleep,
    stripProvider,
    toProviderProps,
    toProviderValue,
    withRejectionListener,
    wrapSecret,
} from "./wire";

export { UNKNOWN } from "./wire";

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
    /** The serialized provider text (`__provider`), unwrapped ("" for a fake provider's resource). */
    provider: string;
    /** Wire form as the engine would store it: secret envelopes kept, `__provider` included. */
    raw: { inputs: Record<string, unknown>; outputs: Record<string, unknown> };
    /** URNs this resource depends on (dependsOn and property dependencies), as the SDK sent them. */
    dependencies: string[];
}

export type StepOp = "create" | "update" | "same" | "replace" | "delete" | "read";

export interface Step {
    urn: string;
    name: string;
    type: string;
    op: StepOp;
    /** Diff's detailed result where one was asked */
    replaces?: string[];
    /** A delete that did not call the provider, and why. */
    skipped?: "retainOnDelete" | "deletedWith";
}

/** One provider operation that changed something, with when it ran (ms since the operation started). */
export interface TimedOperation {
    name: string;
    urn: string;
    op: "create" | "update" | "delete";
    /** For a delete: a removed resource, the old half of a replacement, or a dependent of a delete-first replacement. */
    reason?: "removed" | "replaced" | "dependent";
    startMs: number;
    endMs: number;
}

export interface CheckFailure {
    name: string;
    property: string;
    reason: string;
}

/** An operation the engine started but never saw finish (the CLI was interrupted). */
export interface PendingOperation {
    urn: string;
    type: "creating" | "updating" | "deleting";
}

export interface RunResult {
    /** the tracked resources' steps: registrations in program order, then deletes in schedule order */
    steps: Step[];
    /** tracked resources after the run (for a preview: the planned ones; unknowns are the UNKNOWN string) */
    resources: ResourceRecord[];
    /** outputs of the tracked resource with that name (or URN) (throws if absent); secrets unwrapped */
    outputs(name: string): Record<string, unknown>;
    /** keys whose output is secret */
    secretOutputs(name: string): string[];
    /** from Check */
    checkFailures: CheckFailure[];
    /** host log lines starting "warning:" during the run, and the engine's own warnings */
    warnings: string[];
    /** the delete schedule: antichains of resource names, run one after the other, each in parallel */
    deleteGroups: string[][];
    /** provider operations that changed something, in the order they finished */
    timeline: TimedOperation[];
    /** process id of the host that served this operation */
    hostPid: number;
}

/** A provider operation failed (or Check reported failures): `up`, `refresh` and `destroy` reject with this. */
export class EngineError extends Error {
    step: Step;
    grpcCode?: number;
    /** Set when Check reported failures. */
    checkFailures?: CheckFailure[];
    /** What the run did before it failed (state already reflects completed operations). */
    result?: RunResult;
    /** The operation was interrupted (`interruptAfterMs`). */
    interrupted?: boolean;

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
    /** Refresh first (`pulumi up --refresh`, or `options: refresh: always` in Pulumi.yaml). */
    refresh?: boolean;
    /** `pulumi up --replace <urn>`: these resources (names or URNs) are replaced without asking Diff. */
    replace?: string[];
    /** Kill the host this many ms into the operation, as an interrupted `pulumi up` leaves things. */
    interruptAfterMs?: number;
    /** Kill the host as soon as this returns true (polled every 20 ms), e.g. once the VM was asked to stop. */
    interruptWhen?: () => boolean;
}

export interface OperationOptions {
    /** Kill the host this many ms into the operation. */
    interruptAfterMs?: number;
    /** Kill the host as soon as this returns true (polled every 20 ms). */
    interruptWhen?: () => boolean;
}

export interface Engine {
    up(program: () => void | Promise<void>, options?: UpOptions): Promise<RunResult>;
    /** Read for each tracked resource; updates stored outputs (state), not inputs */
    refresh(options?: OperationOptions): Promise<RunResult>;
    /** Delete every tracked resource, by the dependency graph */
    destroy(options?: OperationOptions): Promise<RunResult>;
    state(): ResourceRecord[];
    /** Operations interrupted in the last run, until the next operation reports them. */
    pendingOperations(): PendingOperation[];
    /** everything the hosts printed so far */
    hostLogs(): string;
    /** Milliseconds the latest host took to print its port. */
    readonly hostStartMs: number;
    /** How many host processes were started. */
    readonly hostStarts: number;
    close(): Promise<void>;
}

export interface FakeResourceArgs {
    type: string;
    name: string;
    /** Inputs as the mocks see them (secrets as envelopes, unknowns as `pulumi.Unknown` in preview). */
    inputs: Record<string, unknown>;
    custom: boolean;
}

/**
 * A provider for a non-dynamic custom resource type, run in the test process (e.g. the VM's own resource on
 * a fake hypervisor). Values are as a provider sees them: secrets unwrapped, unknowns as UNKNOWN.
 */
export interface FakeProvider {
    /** Default: changed top-level keys are updates, nothing is replaced. */
    diff?(olds: Props, news: Props): { replaces?: string[]; deleteBeforeReplace?: boolean };
    /** Default: id = name + "-id", outputs = inputs. */
    create?(name: string, inputs: Props): Promise<{ id?: string; outputs?: Props }> | { id?: string; outputs?: Props };
    /** Default: outputs = inputs. */
    update?(id: string, olds: Props, news: Props): Promise<Props> | Props;
    delete?(id: string, outputs: Props): Promise<void> | void;
}

export interface EngineOptions {
    project?: string;
    stack?: string;
    /** Config for the host's Configure and for `pulumi.Config` in programs; keys "proj:key" or "key". */
    config?: Record<string, string>;
    /**
     * Extra outputs for untracked non-dynamic resources (merged over the echoed inputs). Their id is always
     * `name + "-id"`. Return `undefined` to keep the default.
     */
    fakeOutputs?: (args: FakeResourceArgs) => Record<string, unknown> | undefined;
    /** Custom resource types tracked in state like dynamic ones, with their fake provider. */
    fakeProviders?: Record<string, FakeProvider>;
    /** Steps at once (`pulumi up --parallel`). Default: 4 × CPUs, as the engine. */
    parallel?: number;
    /** Keep one host for every operation (not what the engine does; faster). Default false. */
    reuseHost?: boolean;
}

// ---------------------------------------------------------------------------------------------------------
// state

interface Stored extends GraphNode {
    urn: string;
    type: string;
    name: string;
    id: string;
    /** checked inputs, wire form (secret envelopes), with __provider for a dynamic resource */
    inputs: Props;
    /** outputs, wire form, with __provider for a dynamic resource */
    outputs: Props;
    /** served by the dynamic-provider host (else by a fake provider) */
    dynamic: boolean;
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
function priorAndNews<R extends ChangeRequest>(req: R, prior: Stored, checked: Props): R {
    req.setId(prior.id);
    req.setUrn(prior.urn);
    req.setName(prior.name);
    req.setType(prior.type);
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
        dependencies: [...s.dependencies],
    };
}

/** Runs at most `max` tasks at once (the step executor's worker pool). */
class Limiter {
    private active = 0;
    private readonly waiting: (() => void)[] = [];

    constructor(private readonly max: number) {}

    async run<T>(fn: () => Promise<T>): Promise<T> {
        if (this.active < this.max) {
            this.active++;
        } else {
            await new Promise<void>((resolve) => this.waiting.push(resolve));
        }
        try {
            return await fn();
        } finally {
            const next = this.waiting.shift();
            if (next) {
                next(); // hand the slot over
            } else {
                this.active--;
            }
        }
    }
}

interface DiffAnswer {
    changes: "none" | "some";
    replaces: string[];
    deleteBeforeReplace: boolean;
    /** the keys the engine knows changed (for replaceOnChanges) */
    changedKeys: string[];
}

/** One operation (preview, update, refresh, destroy): its host, its steps and what is in flight. */
class Run {
    steps: Step[] = [];
    timeline: TimedOperation[] = [];
    deleteGroups: string[][] = [];
    checkFailures: CheckFailure[] = [];
    warnings: string[] = [];
    registered = new Set<string>();
    /** resources replaced create-before-delete: their old incarnation is deleted at the end */
    pendingDeletes: Stored[] = [];
    /** dependents deleted ahead of a delete-first replacement: created again when registered */
    dependentDeleted = new Set<string>();
    /** every URN deleted in this operation (deletedWith looks here) */
    deletedUrns = new Set<string>();
    /** planned records (preview) */
    planned = new Map<string, Stored>();
    inflight = new Set<PendingOperation>();
    interrupted = false;
    error?: Error;
    readonly started = Date.now();
    readonly limit: Limiter;
    private rejectFailed!: (e: Error) => void;
    readonly failed: Promise<never>;

    constructor(
        readonly host: Host,
        readonly preview: boolean,
        readonly logStart: number,
        parallel: number,
        readonly replaceTargets: readonly string[] = [],
    ) {
        this.limit = new Limiter(parallel);
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

    now(): number {
        return Date.now() - this.started;
    }
}

// ---------------------------------------------------------------------------------------------------------

class MiniEngine implements Engine {
    private stored: Stored[] = [];
    private pending: PendingOperation[] = [];
    private run?: Run;
    private currentRequest: unknown;
    private closed = false;
    private busy = false;
    private idleHost?: Host;
    private archivedLogs = "";
    private lastHost?: Host;
    private starts = 0;
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
        private readonly project: string,
        private readonly stack: string,
        private readonly options: EngineOptions,
        private readonly hostConfig: Record<string, string>,
    ) {}

    get hostStartMs(): number {
        return this.lastHost?.startMs ?? 0;
    }

    get hostStarts(): number {
        return this.starts;
    }

    state(): ResourceRecord[] {
        return this.stored.map(toRecord);
    }

    pendingOperations(): PendingOperation[] {
        return this.pending.map((p) => ({ ...p }));
    }

    hostLogs(): string {
        return this.archivedLogs + (this.lastHost ? this.lastHost.logs() : "");
    }

    async startHost(): Promise<Host> {
        const host = await startHost({ project: this.project, config: this.hostConfig });
        this.starts++;
        if (this.lastHost) {
            this.archivedLogs += this.lastHost.logs();
        }
        this.lastHost = host;
        return host;
    }

    /** Starts the first host at once, so a host that cannot start fails startEngine. */
    async warmUp(): Promise<void> {
        this.idleHost = await this.startHost();
    }

    private warningsSince(start: number): string[] {
        return this.hostLogs()
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

    private makeResult(run: Run, resources: Stored[]): RunResult {
        const records = resources.map(toRecord);
        const find = (name: string): ResourceRecord => {
            const r = records.find((x) => (name.startsWith("urn:") ? x.urn === name : x.name === name));
            if (!r) {
                throw new Error(`no tracked resource named ${name}; have: ${records.map((x) => x.name).join(", ")}`);
            }
            return r;
        };
        return {
            steps: [...run.steps],
            resources: records,
            outputs: (name) => find(name).outputs,
            secretOutputs: (name) => find(name).secretOutputs,
            checkFailures: run.checkFailures,
            warnings: [...run.warnings, ...this.warningsSince(run.logStart)],
            deleteGroups: run.deleteGroups,
            timeline: run.timeline,
            hostPid: run.host.pid,
        };
    }

    /**
     * One operation: a host of its own (the engine loads plugins per deployment), the previous run's pending
     * operations reported and dropped, and the interruption timer.
     */
    private operation(options: UpOptions, body: (run: Run) => Promise<RunResult>): Promise<RunResult> {
        return this.exclusive(async () => {
            await this.settleRpcs(5000);
            const logStart = this.hostLogs().length;
            const host = this.idleHost ?? (await this.startHost());
            this.idleHost = undefined;
            const parallel = this.options.parallel ?? 4 * os.cpus().length;
            const run = new Run(host, options.preview === true, logStart, parallel, options.replace);
            if (this.pending.length > 0) {
                // What the engine prints when the last deployment left operations unfinished; it then drops them.
                run.warnings.push(
                    `warning: Attempting to deploy or update resources with ${this.pending.length} pending operations from previous deployment.\n` +
                        this.pending.map((p) => `  * ${p.urn}, interrupted while ${p.type}`).join("\n") +
                        "\nThese resources are in an unknown state because the Pulumi CLI was interrupted while waiting for changes to these resources to complete.",
                );
                this.pending = [];
            }
            let timer: NodeJS.Timeout | undefined;
            let poll: NodeJS.Timeout | undefined;
            const interrupt = (): void => {
                if (run.interrupted) {
                    return;
                }
                run.interrupted = true;
                this.pending = [...run.inflight].map((p) => ({ ...p }));
                void host.kill();
                const e = new EngineError(`the operation was interrupted with ${this.pending.length} operations in flight`, {
                    urn: "",
                    name: "",
                    type: "",
                    op: "update",
                });
                e.interrupted = true;
                run.fail(e);
            };
            if (options.interruptAfterMs !== undefined) {
                timer = setTimeout(interrupt, options.interruptAfterMs);
            }
            const when = options.interruptWhen;
            if (when) {
                poll = setInterval(() => {
                    if (when()) {
                        interrupt();
                    }
                }, 20);
            }
            try {
                return await body(run);
            } finally {
                clearTimeout(timer);
                clearInterval(poll);
                if (this.options.reuseHost && !run.interrupted) {
                    this.idleHost = host;
                } else {
                    await host.close();
                }
            }
        });
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

    // --- provider operations (the host for dynamic resources, a fake provider otherwise) ------------------

    private async hostCall(run: Run, step: Step, method: "check" | "diff" | "create" | "update" | "read" | "delete", req: unknown) {
        const kinds = { create: "creating", update: "updating", delete: "deleting" } as const;
        const kind = method in kinds ? kinds[method as keyof typeof kinds] : undefined;
        const token: PendingOperation | undefined = kind ? { urn: step.urn, type: kind } : undefined;
        if (run.interrupted) {
            throw Object.assign(new EngineError(`interrupted before ${method} of ${step.urn}`, step), { interrupted: true });
        }
        if (token) {
            run.inflight.add(token);
        }
        try {
            return await run.host.call(method, req);
        } catch (err) {
            const { message, code } = hostErrorMessage(err);
            const e = new EngineError(run.interrupted ? `interrupted during ${method} of ${step.urn}: ${message}` : message, step, code);
            e.interrupted = run.interrupted || undefined;
            throw e;
        } finally {
            if (token && !run.interrupted) {
                run.inflight.delete(token);
            }
        }
    }

    private fake(type: string): FakeProvider | undefined {
        return this.options.fakeProviders?.[type];
    }

    private async check(run: Run, step: Step, dynamic: boolean, olds: Props | undefined, news: Props): Promise<Props> {
        if (!dynamic) {
            return toProviderProps(news);
        }
        const req = new providerPb.CheckRequest();
        req.setUrn(step.urn);
        req.setName(step.name);
        req.setType(step.type);
        req.setOlds(toStruct(olds ? toProviderProps(olds) : {}));
        req.setNews(toStruct(toProviderProps(news)));
        const resp = await this.hostCall(run, step, "check", req);
        // eslint-disable-next-line @typescript-eslint/no-explicit-any
        const failures: CheckFailure[] = (resp.getFailuresList() as any[]).map((f) => ({
            name: step.name,
            property: f.getProperty() as string,
            reason: f.getReason() as string,
        }));
        if (failures.length > 0) {
            run.checkFailures.push(...failures);
            const lines = failures.map((f) => `  ${f.property}: ${f.reason}`).join("\n");
            throw new EngineError(`Check failed for ${step.name} [${step.type}]:\n${lines}`, step, undefined, failures);
        }
        return fromStruct(resp.getInputs());
    }

    /** diffResource: the provider's Diff; DIFF_UNKNOWN decided by comparing inputs, which also gives changed keys. */
    private async diff(run: Run, step: Step, prior: Stored, news: Props): Promise<DiffAnswer> {
        const oldInputs = toProviderProps(prior.inputs);
        const inputDiff = (): string[] =>
            [...new Set([...Object.keys(oldInputs), ...Object.keys(news)])].filter((k) => canonical(oldInputs[k]) !== canonical(news[k]));
        if (!prior.dynamic) {
            const answer = this.fake(prior.type)?.diff?.(toProviderProps(prior.outputs), news);
            const changed = inputDiff();
            return {
                changes: changed.length > 0 || (answer?.replaces?.length ?? 0) > 0 ? "some" : "none",
                replaces: answer?.replaces ?? [],
                deleteBeforeReplace: answer?.deleteBeforeReplace ?? false,
                changedKeys: changed,
            };
        }
        const resp = await this.hostCall(run, step, "diff", priorAndNews(new providerPb.DiffRequest(), prior, news));
        const Changes = providerPb.DiffResponse.DiffChanges;
        const replaces: string[] = resp.getReplacesList();
        const answer: DiffAnswer = {
            changes: resp.getChanges() === Changes.DIFF_NONE ? "none" : "some",
            replaces,
            deleteBeforeReplace: resp.getDeletebeforereplace(),
            changedKeys: resp.getDiffsList(),
        };
        if (resp.getChanges() === Changes.DIFF_UNKNOWN) {
            const changed = inputDiff();
            answer.changes = changed.length > 0 ? "some" : "none";
            answer.changedKeys = changed;
        }
        return answer;
    }

    private async timed<T>(
        run: Run,
        s: { name: string; urn: string },
        op: TimedOperation["op"],
        reason: TimedOperation["reason"],
        fn: () => Promise<T>,
    ): Promise<T> {
        const startMs = run.now();
        const out = await fn();
        run.timeline.push({ name: s.name, urn: s.urn, op, ...(reason ? { reason } : {}), startMs, endMs: run.now() });
        return out;
    }

    private async create(run: Run, step: Step, dynamic: boolean, checked: Props): Promise<{ id: string; outs: Props }> {
        return this.timed(run, step, "create", undefined, async () => {
            if (!dynamic) {
                const made = await this.fake(step.type)?.create?.(step.name, checked);
                return { id: made?.id ?? `${step.name}-id`, outs: made?.outputs ?? checked };
            }
            const req = new providerPb.CreateRequest();
            req.setUrn(step.urn);
            req.setName(step.name);
            req.setType(step.type);
            req.setProperties(toStruct(checked));
            const resp = await this.hostCall(run, step, "create", req);
            return { id: resp.getId() as string, outs: fromStruct(resp.getProperties()) };
        });
    }

    private async update(run: Run, step: Step, prior: Stored, checked: Props): Promise<Props> {
        return this.timed(run, step, "update", undefined, async () => {
            if (!prior.dynamic) {
                return (await this.fake(prior.type)?.update?.(prior.id, toProviderProps(prior.outputs), checked)) ?? checked;
            }
            const resp = await this.hostCall(run, step, "update", priorAndNews(new providerPb.UpdateRequest(), prior, checked));
            return fromStruct(resp.getProperties());
        });
    }

    /** DeleteStep.Apply: refuses protected resources; skips the provider for retainOnDelete and deletedWith. */
    private async delete(run: Run, s: Stored, step: Step, reason: TimedOperation["reason"]): Promise<void> {
        if (s.protect) {
            throw new EngineError(`resource ${s.urn} cannot be deleted because it is protected (remove the protect option first)`, step);
        }
        run.deletedUrns.add(s.urn);
        if (s.retainOnDelete) {
            step.skipped = "retainOnDelete";
            return;
        }
        if (s.deletedWith && run.deletedUrns.has(s.deletedWith)) {
            step.skipped = "deletedWith";
            return;
        }
        await this.timed(run, s, "delete", reason, async () => {
            if (!s.dynamic) {
                await this.fake(s.type)?.delete?.(s.id, toProviderProps(s.outputs));
                return;
            }
            const req = new providerPb.DeleteRequest();
            req.setId(s.id);
            req.setUrn(s.urn);
            req.setName(s.name);
            req.setType(s.type);
            req.setProperties(toStruct(toProviderProps(s.outputs)));
            req.setOldInputs(toStruct(toProviderProps(s.inputs)));
            await this.hostCall(run, step, "delete", req);
        });
    }

    /**
     * calculateDependentReplacements: the dependents that must go before `root` is deleted first. A custom
     * resource qualifies when an input depends on something in the replace set and its provider's Diff,
     * asked with those inputs unknown, answers "replace".
     */
    private async dependentReplacements(run: Run, root: Stored): Promise<Stored[]> {
        const replaceSet = new Set([root.urn]);
        const out: Stored[] = [];
        for (const d of dependentsOf(root, this.stored)) {
            const probe: Props = {};
            let depends = false;
            for (const [k, v] of Object.entries(d.inputs)) {
                if ((d.propertyDependencies[k] ?? []).some((u) => replaceSet.has(u))) {
                    probe[k] = UNKNOWN;
                    depends = true;
                } else {
                    probe[k] = v;
                }
            }
            if (!depends) {
                continue;
            }
            const step: Step = { urn: d.urn, name: d.name, type: d.type, op: "replace" };
            const answer = await this.diff(run, step, d, toProviderProps(probe));
            if (answer.replaces.length > 0) {
                replaceSet.add(d.urn);
                out.push(d);
            }
        }
        return out;
    }

    // --- one registration -------------------------------------------------------------------------------

    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    private async register(run: Run, req: any, dynamic: boolean): Promise<{ id: string; state: Props }> {
        // req is a resource_pb.RegisterResourceRequest (generated protobuf; untyped)
        const type: string = req.getType();
        const name: string = req.getName();
        const parent: string = req.getParent();
        const urn = this.urnOf(parent, type, name);
        const wireNews = fromStruct(req.getObject());
        const dbrOption: boolean | undefined = req.getDeletebeforereplacedefined() ? req.getDeletebeforereplace() : undefined;
        const additionalSecrets: string[] = req.getAdditionalsecretoutputsList();
        const protect: boolean = req.getProtect();
        const retainOnDelete: boolean = req.getRetainondelete();
        const ignoreChanges: string[] = req.getIgnorechangesList();
        const replaceOnChanges: string[] = req.getReplaceonchangesList();
        const propertyDependencies: Record<string, string[]> = {};
        // eslint-disable-next-line @typescript-eslint/no-explicit-any
        req.getPropertydependenciesMap().forEach((v: any, k: string) => {
            propertyDependencies[k] = v.getUrnsList();
        });
        const graph = {
            parent,
            dependencies: req.getDependenciesList() as string[],
            propertyDependencies,
            deletedWith: req.getDeletedwith() as string,
        };
        const recreate = run.dependentDeleted.has(urn);
        const prior = recreate ? undefined : this.stored.find((s) => s.urn === urn);
        const step: Step = { urn, name, type, op: prior ? "update" : "create" };
        if (run.registered.has(urn)) {
            throw new EngineError(`Duplicate resource URN '${urn}'; try giving it a unique name`, step);
        }
        run.registered.add(urn);
        run.steps.push(step); // program order; the op is filled in when the step completes

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

        const checked = await this.check(run, step, dynamic, prior?.inputs, wireNews);
        // The engine re-marks checked inputs secret where the program's inputs were (acceptSecrets=false).
        const checkedWire = annotateSecrets(checked, wireNews) as Props;

        const finish = (op: StepOp, id: string, outputs: Props, replaces?: string[]) => {
            step.op = op;
            if (replaces) {
                step.replaces = replaces;
            }
            const rec: Stored = { urn, type, name, id, inputs: checkedWire, outputs, dynamic, protect, retainOnDelete, ...graph };
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
            const op = recreate ? "replace" : "create";
            if (run.preview) {
                return finish(op, "", checkedWire);
            }
            const { id, outs } = await this.create(run, step, dynamic, checked);
            return finish(op, id, secretInputs(outs, checkedWire));
        }

        // isTargetedReplace: `--replace` blames the id and never asks the provider.
        const targeted = run.replaceTargets.includes(urn) || run.replaceTargets.includes(name);
        const diff: DiffAnswer = targeted
            ? { changes: "some", replaces: ["id"], deleteBeforeReplace: false, changedKeys: [] }
            : await this.diff(run, step, prior, checked);
        // applyReplaceOnChanges: a changed key the engine knows about, listed in replaceOnChanges, replaces.
        if (diff.changes === "some") {
            for (const k of diff.changedKeys) {
                if ((replaceOnChanges.includes(k) || replaceOnChanges.includes("*")) && !diff.replaces.includes(k)) {
                    diff.replaces.push(k);
                }
            }
        }
        if (diff.changes === "none") {
            return finish("same", prior.id, prior.outputs, []);
        }
        if (diff.replaces.length > 0) {
            if (prior.protect) {
                throw new EngineError(
                    `unable to replace resource ${urn} as it is currently marked for protection (replaces: ${diff.replaces.join(", ")})`,
                    step,
                );
            }
            if (run.preview) {
                return finish("replace", "", checkedWire, diff.replaces);
            }
            // The user's deleteBeforeReplace, when set, overrides the provider's answer either way.
            const deleteFirst = dbrOption ?? diff.deleteBeforeReplace;
            if (deleteFirst) {
                const dependents = await this.dependentReplacements(run, prior);
                for (const d of [...dependents].reverse()) {
                    await this.delete(run, d, { urn: d.urn, name: d.name, type: d.type, op: "delete" }, "dependent");
                    run.dependentDeleted.add(d.urn);
                    this.stored = this.stored.filter((s) => s !== d);
                }
                await this.delete(run, prior, step, "replaced");
                // The old one is gone now, whatever happens next; the new one goes last (newest).
                this.stored = this.stored.filter((s) => s !== prior);
                const { id, outs } = await this.create(run, step, dynamic, checked);
                return finish("replace", id, secretInputs(outs, checkedWire), diff.replaces);
            }
            const { id, outs } = await this.create(run, step, dynamic, checked);
            run.pendingDeletes.push(prior);
            return finish("replace", id, secretInputs(outs, checkedWire), diff.replaces);
        }
        if (run.preview) {
            return finish("update", prior.id, checkedWire, []);
        }
        const outs = await this.update(run, step, prior, checked);
        return finish("update", prior.id, secretInputs(outs, checkedWire), []);
    }

    private fakeResource(run: Run, args: pulumi.runtime.MockResourceArgs): { id: string; state: Props } {
        const inputs = args.inputs as Props;
        const extra = args.custom
            ? this.options.fakeOutputs?.({ type: args.type, name: args.name, inputs, custom: args.custom })
            : undefined;
        // Untracked resources are new to the harness on every run: in preview their id is not known yet.
        return { id: run.preview && args.custom ? "" : `${args.name}-id`, state: { ...inputs, ...(extra ?? {}) } };
    }

    // --- runs -----------------------------------------------------------------------------------------

    up(program: () => void | Promise<void>, options: UpOptions = {}): Promise<RunResult> {
        return this.operation(options, async (run) => {
            if (options.refresh) {
                await this.refreshAll(run);
            }
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

    /** setMocks with a newResource that forwards tracked resources to their provider; captures the raw requests. */
    private async installMocks(run: Run): Promise<void> {
        const mocks: pulumi.runtime.Mocks = {
            newResource: async (args) => {
                const req = this.currentRequest;
                this.currentRequest = undefined;
                const dynamic = args.type.startsWith("pulumi-nodejs:dynamic");
                if (!dynamic && !(args.custom && this.fake(args.type))) {
                    return this.fakeResource(run, args);
                }
                if (!req) {
                    throw new Error(`harness: no RegisterResourceRequest captured for ${args.name}`);
                }
                try {
                    return await run.limit.run(() => this.register(run, req, dynamic));
                } catch (err) {
                    run.fail(err as Error);
                    throw err;
                }
            },
            call: (args) => args.inputs,
        };
        await pulumi.runtime.setMocks(mocks, this.project, this.stack, run.preview);
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
        const fail = async (err: Error): Promise<never> => {
            // Let the SDK finish (and reject) what is in flight, so nothing leaks into the next run.
            await this.settleRpcs(2000);
            if (err instanceof EngineError) {
                err.result = this.makeResult(run, this.resultResources(run));
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
        } catch (err) {
            return fail(run.error ?? (err as Error));
        }
        if (run.error) {
            return fail(run.error);
        }
        // Deletions: replaced resources' old incarnations and resources no longer in the program, by the graph.
        const removed = this.stored.filter((s) => !run.registered.has(s.urn));
        try {
            await this.runDeletes(run, [...run.pendingDeletes, ...removed], (s) =>
                run.pendingDeletes.includes(s) ? "replaced" : "removed",
            );
        } catch (err) {
            return fail(err as Error);
        }
        return this.makeResult(run, this.resultResources(run));
    }

    /** ScheduleDeletes, then each antichain in parallel; a failure stops the schedule after its group. */
    private async runDeletes(run: Run, condemned: Stored[], reasonOf: (s: Stored) => TimedOperation["reason"]): Promise<void> {
        for (const s of condemned) {
            run.deletedUrns.add(s.urn);
        }
        for (const group of scheduleDeletes(condemned)) {
            run.deleteGroups.push(group.map((s) => s.name));
            const outcomes = await Promise.allSettled(
                group.map((s) =>
                    run.limit.run(async () => {
                        const reason = reasonOf(s);
                        const step: Step = { urn: s.urn, name: s.name, type: s.type, op: "delete" };
                        if (!run.preview) {
                            await this.delete(run, s, step, reason);
                            this.stored = this.stored.filter((x) => x !== s);
                        }
                        if (reason !== "replaced") {
                            run.steps.push(step);
                        }
                    }),
                ),
            );
            const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === "rejected");
            if (failed) {
                throw failed.reason;
            }
        }
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

    /** Read for every tracked dynamic resource: outputs (not inputs) take what the provider reports. */
    private async refreshAll(run: Run): Promise<void> {
        for (const s of [...this.stored]) {
            const step: Step = { urn: s.urn, name: s.name, type: s.type, op: "read" };
            if (!s.dynamic) {
                run.steps.push(step);
                continue;
            }
            const req = new providerPb.ReadRequest();
            req.setId(s.id);
            req.setUrn(s.urn);
            req.setName(s.name);
            req.setType(s.type);
            req.setProperties(toStruct(toProviderProps(s.outputs)));
            req.setInputs(toStruct(toProviderProps(s.inputs)));
            const resp = await this.hostCall(run, step, "read", req);
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
            run.steps.push(step);
        }
    }

    refresh(options: OperationOptions = {}): Promise<RunResult> {
        return this.operation(options, async (run) => {
            try {
                await this.refreshAll(run);
            } catch (err) {
                (err as EngineError).result = this.makeResult(run, [...this.stored]);
                throw err;
            }
            return this.makeResult(run, [...this.stored]);
        });
    }

    destroy(options: OperationOptions = {}): Promise<RunResult> {
        return this.operation(options, async (run) => {
            try {
                await this.runDeletes(run, [...this.stored], () => "removed");
            } catch (err) {
                (err as EngineError).result = this.makeResult(run, [...this.stored]);
                throw err;
            }
            return this.makeResult(run, []);
        });
    }

    async close(): Promise<void> {
        if (this.closed) {
            return;
        }
        this.closed = true;
        await this.settleRpcs(2000);
        await this.idleHost?.close();
    }
}

export async function startEngine(options: EngineOptions = {}): Promise<Engine> {
    const project = options.project ?? "project";
    const stack = options.stack ?? "stack";
    const config: Record<string, string> = {};
    for (const [k, v] of Object.entries(options.config ?? {})) {
        config[k.includes(":") ? k : `${project}:${k}`] = v;
    }
    const engine = new MiniEngine(project, stack, options, config);
    await engine.warmUp();
    return engine;
}

/**
 * Serializes a dynamic provider exactly as `pulumi.dynamic.Resource` does (closure serializer, secrets
 * allowed). Rejects where a resource registration would fail only with an unhandled rejection.
 */
export async function serializeProvider(provider: object): Promise<{ text: string; bytes: number }> {
    const sf = await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true });
    return { text: sf.text, bytes: Buffer.byteLength(sf.text, "utf8") };
}
