/**
 * The engine's wire conventions around a provider that answers Configure with acceptSecrets=false:
 * secret envelopes stripped before each call and re-marked on outputs, unknowns as a sentinel string,
 * resource references as ids; plus the process-level plumbing the mini engine needs.
 */
import { HostCallError } from "./host";

/** The engine's wire encoding of an unknown value (what a provider sees during preview). */
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
const SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
const RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e";
export const PROVIDER_KEY = "__provider";

export type Props = Record<string, unknown>;

export function isObject(v: unknown): v is Props {
    return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function isSecretEnvelope(v: unknown): v is { value: unknown } {
    return isObject(v) && v[SIG_KEY] === SECRET_SIG;
}

export function wrapSecret(v: unknown): Props {
    return { [SIG_KEY]: SECRET_SIG, value: v };
}

/** What a provider with acceptSecrets=false / acceptResources=false gets: no envelopes, references as ids. */
export function toProviderValue(v: unknown): unknown {
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

export function toProviderProps(p: Props): Props {
    return toProviderValue(p) as Props;
}

export function containsSecret(v: unknown): boolean {
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
export function annotateSecrets(outs: unknown, ins: unknown): unknown {
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

export function secretKeysOf(p: Props): string[] {
    return Object.keys(p).filter((k) => containsSecret(p[k]));
}

export function stripProvider(p: Props): Props {
    const { [PROVIDER_KEY]: _omit, ...rest } = p;
    void _omit;
    return rest;
}

export function canonical(v: unknown): string {
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

export function hostErrorMessage(err: unknown): { message: string; code?: number } {
    const e = err as HostCallError;
    return { message: e?.details || e?.message || String(err), code: typeof e?.code === "number" ? e.code : undefined };
}

/**
 * The real `process`. Under Jest the test's `process` is a copy with its own listeners, so
 * `process.on("unhandledRejection")` there never fires; the real one is the main context's global.
 */
export const realProcess: NodeJS.Process = (require("vm") as typeof import("vm")).runInThisContext("process");

export type RejectionListener = (reason: unknown, promise: Promise<unknown>) => void;

/** Runs `fn` with `listener` as the only unhandledRejection listener of the real process. */
export async function withRejectionListener<T>(listener: RejectionListener, fn: () => Promise<T>): Promise<T> {
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

export function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
}
