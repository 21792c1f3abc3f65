import { parseDuration } from "../power/duration";
import { InputError, collectInputErrors, throwIfAny } from "../power/errors";
import { parseUserCloudConfig } from "./merge";
import { GuestPlan, PlannedHook, PlannedRequest, PlannedService } from "./plan";
import { normalizeServiceName } from "./systemd";
import { checkRenderableText, describeType } from "./text";
import { httpMethods, ShutdownKind, shutdownKinds } from "./types";

export const guestDefaults = {
    hookTimeout: "10s",
    drainRequestTimeout: "5s",
    serviceTimeoutStop: "30s",
    margin: "10s",
    killMode: "control-group",
} as const;

const minimumMarginMs = 2_000;
const hookKinds = ["exec", "drain", "httpGet"] as const;
const hookNamePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/**
 * Validates the component's `preStop` and `lifecycle` values (plain values, as the user wrote
 * them once resolved) into a plan. Every problem is reported at once, each naming its field
 * (`preStop[1].httpGet.url`); nothing is echoed from headers or bodies, which may be secrets.
 */
export function planGuest(preStop: unknown, lifecycle: unknown): GuestPlan {
    const hooks: PlannedHook[] = [];
    const services: PlannedService[] = [];
    let marginMs = parseDuration(guestDefaults.margin, "lifecycle.margin");
    let userData: Record<string, unknown> | undefined;
    let installGuestAgent = true;
    let installAcpid = false;

    const checks: Array<() => void> = [];
    if (preStop !== undefined && preStop !== null) {
        if (!Array.isArray(preStop)) {
            checks.push(() => {
                throw new InputError("preStop", `must be a list of hooks, got ${describeType(preStop)}`);
            });
        } else {
            preStop.forEach((raw, index) => checks.push(() => void hooks.push(planHook(raw, `preStop[${index}]`))));
            checks.push(() => rejectDuplicateNames(preStop));
        }
    }
    if (lifecycle !== undefined && lifecycle !== null) {
        const obj = requireObject(lifecycle, "lifecycle");
        checks.push(() => rejectUnknown(obj, "lifecycle", ["services", "margin", "userData", "installGuestAgent", "installAcpid"]));
        if (obj.services !== undefined && obj.services !== null) {
            if (!Array.isArray(obj.services)) {
                checks.push(() => {
                    throw new InputError("lifecycle.services", `must be a list, got ${describeType(obj.services)}`);
                });
            } else {
                obj.services.forEach((raw, index) =>
                    checks.push(() => void services.push(planService(raw, `lifecycle.services[${index}]`))),
                );
            }
        }
        checks.push(() => {
            if (obj.margin === undefined || obj.margin === null) return;
            marginMs = parseDuration(obj.margin, "lifecycle.margin");
            if (marginMs < minimumMarginMs)
                throw new InputError(
                    "lifecycle.margin",
                    `must be at least 2s: the guest needs time to unmount and power off after its services stop`,
                );
        });
        checks.push(() => {
            if (obj.userData !== undefined && obj.userData !== null) userData = parseUserCloudConfig(obj.userData, "lifecycle.userData");
        });
        checks.push(() => {
            installGuestAgent = optionalBoolean(obj.installGuestAgent, "lifecycle.installGuestAgent") ?? true;
            installAcpid = optionalBoolean(obj.installAcpid, "lifecycle.installAcpid") ?? false;
        });
    }
    throwIfAny(collectInputErrors(checks));
    checkDuplicateServices(services);
    return { hooks, services, marginMs, userData, installGuestAgent, installAcpid };
}

function planHook(raw: unknown, field: string): PlannedHook {
    const obj = requireObject(raw, field);
    rejectUnknown(obj, field, ["name", "timeout", "on", ...hookKinds]);
    const name = hookName(obj.name, `${field}.name`);
    const on = shutdownKindList(obj.on, `${field}.on`);
    const kinds = hookKinds.filter((kind) => obj[kind] !== undefined && obj[kind] !== null);
    if (kinds.length !== 1) {
        throw new InputError(
            field,
            `must have exactly one of exec, drain, httpGet; got ${kinds.length === 0 ? "none" : kinds.join(" and ")}`,
        );
    }
    const kind = kinds[0];
    const hasTimeout = obj.timeout !== undefined && obj.timeout !== null;
    if (kind === "drain") {
        if (hasTimeout)
            throw new InputError(`${field}.timeout`, "is not used by a drain hook: it takes drain.seconds plus its request's timeout");
        return planDrain(name, on, obj.drain, `${field}.drain`);
    }
    const timeoutMs = parseDuration(hasTimeout ? obj.timeout : guestDefaults.hookTimeout, `${field}.timeout`);
    if (kind === "httpGet") {
        const request = planRequest(obj.httpGet, `${field}.httpGet`, timeoutMs, false);
        return { kind, name, on, timeoutMs, request };
    }
    const exec = requireObject(obj.exec, `${field}.exec`);
    rejectUnknown(exec, `${field}.exec`, ["command", "script"]);
    const hasCommand = exec.command !== undefined && exec.command !== null;
    const hasScript = exec.script !== undefined && exec.script !== null;
    if (hasCommand === hasScript) throw new InputError(`${field}.exec`, "must have exactly one of command (a list of arguments) or script");
    if (hasScript) {
        const script = checkRenderableText(exec.script, `${field}.exec.script`);
        if (script.trim() === "") throw new InputError(`${field}.exec.script`, "must not be empty");
        return { kind, name, on, timeoutMs, script };
    }
    if (!Array.isArray(exec.command) || exec.command.length === 0) {
        throw new InputError(
            `${field}.exec.command`,
            `must be a non-empty list of arguments such as ["/usr/bin/app", "drain"], got ${describeType(exec.command)}`,
        );
    }
    const command = exec.command.map((arg, i) => checkRenderableText(arg, `${field}.exec.command[${i}]`));
    if (command[0] === "") throw new InputError(`${field}.exec.command[0]`, "must name a program");
    // `exec -l prog` is an option to bash's exec (and /bin/sh is bash on some distributions).
    if (command[0].startsWith("-")) throw new InputError(`${field}.exec.command[0]`, "must name a program, not an option");
    return { kind, name, on, timeoutMs, command };
}

function planDrain(name: string, on: readonly ShutdownKind[], raw: unknown, field: string): PlannedHook {
    const obj = requireObject(raw, field);
    rejectUnknown(obj, field, ["seconds", "createFile", "removeFile", "request"]);
    if (obj.seconds === undefined || obj.seconds === null)
        throw new InputError(`${field}.seconds`, "is required: how long the load balancer needs to take the VM out");
    const drainMs = parseDuration(obj.seconds, `${field}.seconds`, { allowZero: true });
    const createFile = optionalPath(obj.createFile, `${field}.createFile`);
    const removeFile = optionalPath(obj.removeFile, `${field}.removeFile`);
    const request =
        obj.request === undefined || obj.request === null ? undefined : planRequest(obj.request, `${field}.request`, undefined, true);
    if (!createFile && !removeFile && !request) {
        throw new InputError(field, "must mark the VM as draining: give createFile, removeFile or request");
    }
    return { kind: "drain", name, on, drainMs, createFile, removeFile, request };
}

function planRequest(raw: unknown, field: string, hookTimeoutMs: number | undefined, ownTimeout: boolean): PlannedRequest {
    const obj = requireObject(raw, field);
    rejectUnknown(obj, field, ["url", "method", "headers", "body", "insecureSkipVerify", ...(ownTimeout ? ["timeout"] : [])]);
    const url = requireHttpUrl(obj.url, `${field}.url`);
    const method = obj.method === undefined || obj.method === null ? "GET" : oneOf(obj.method, `${field}.method`, httpMethods);
    const headers: Array<[string, string]> = [];
    if (obj.headers !== undefined && obj.headers !== null) {
        const given = requireObject(obj.headers, `${field}.headers`);
        for (const [key, value] of Object.entries(given)) {
            if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(key))
                throw new InputError(
                    `${field}.headers`,
                    `has a header name that is not an HTTP token: ${JSON.stringify(key.slice(0, 40))}`,
                );
            if (typeof value !== "string") throw new InputError(`${field}.headers.${key}`, `must be a string, got ${typeof value}`);
            // Header values are often tokens: never quoted back.
            if (/[\r\n\u0000]/.test(value))
                throw new InputError(`${field}.headers.${key}`, "must not contain line breaks or NUL (they would inject headers)");
            checkRenderableText(value, `${field}.headers.${key}`);
            headers.push([key, value]);
        }
    }
    const body = obj.body === undefined || obj.body === null ? undefined : checkRenderableText(obj.body, `${field}.body`);
    const insecureSkipVerify = optionalBoolean(obj.insecureSkipVerify, `${field}.insecureSkipVerify`) ?? false;
    const timeoutMs = hookTimeoutMs ?? parseDuration(obj.timeout ?? guestDefaults.drainRequestTimeout, `${field}.timeout`);
    return { url, method, headers, body, insecureSkipVerify, timeoutMs };
}

function planService(raw: unknown, field: string): PlannedService {
    const obj = typeof raw === "string" ? { name: raw } : requireObject(raw, field);
    rejectUnknown(obj, field, ["name", "timeoutStopSec", "killMode"]);
    const unit = normalizeServiceName(obj.name, `${field}.name`);
    const timeoutStopMs = parseDuration(obj.timeoutStopSec ?? guestDefaults.serviceTimeoutStop, `${field}.timeoutStopSec`);
    const killMode =
        obj.killMode === undefined || obj.killMode === null
            ? guestDefaults.killMode
            : oneOf(obj.killMode, `${field}.killMode`, ["control-group", "mixed"] as const);
    return { unit, timeoutStopMs, killMode };
}

/** `on`: a non-empty list of shutdown kinds, each once, in a fixed order. */
function shutdownKindList(value: unknown, field: string): readonly ShutdownKind[] {
    if (value === undefined || value === null) return shutdownKinds;
    if (!Array.isArray(value) || value.length === 0)
        throw new InputError(field, `must be a non-empty list of ${shutdownKinds.join(", ")}, got ${describeType(value)}`);
    value.forEach((kind, index) => oneOf(kind, `${field}[${index}]`, shutdownKinds));
    if (new Set(value).size !== value.length) throw new InputError(field, "must not list a shutdown kind twice");
    return shutdownKinds.filter((kind) => value.includes(kind));
}

function hookName(value: unknown, field: string): string {
    if (typeof value !== "string" || value === "") throw new InputError(field, "is required");
    if (!hookNamePattern.test(value)) {
        throw new InputError(
            field,
            `must be letters, digits, ".", "_" or "-", start with a letter or digit and be at most 63 characters, got ${JSON.stringify(value.slice(0, 70))}`,
        );
    }
    return value;
}

function rejectDuplicateNames(hooks: readonly unknown[]): void {
    const seen = new Map<string, number>();
    hooks.forEach((hook, index) => {
        const name = hook && typeof hook === "object" ? (hook as Record<string, unknown>).name : undefined;
        if (typeof name !== "string") return;
        const first = seen.get(name);
        if (first !== undefined)
            throw new InputError(`preStop[${index}].name`, `${JSON.stringify(name)} is already the name of preStop[${first}]`);
        seen.set(name, index);
    });
}

function checkDuplicateServices(services: readonly PlannedService[]): void {
    const seen = new Set<string>();
    services.forEach((service, index) => {
        if (seen.has(service.unit)) throw new InputError(`lifecycle.services[${index}].name`, `${service.unit} is listed twice`);
        seen.add(service.unit);
    });
}

function optionalPath(value: unknown, field: string): string | undefined {
    if (value === undefined || value === null) return undefined;
    const path = checkRenderableText(value, field);
    if (!path.startsWith("/")) throw new InputError(field, `must be an absolute path, got ${JSON.stringify(path.slice(0, 60))}`);
    if (path.endsWith("/")) throw new InputError(field, "must name a file, not a directory");
    return path;
}

function requireHttpUrl(value: unknown, field: string): string {
    if (typeof value !== "string" || value === "") throw new InputError(field, "is required: an http:// or https:// URL");
    checkRenderableText(value, field);
    if (/[\s\u0000-\u001f\u007f]/.test(value))
        throw new InputError(field, "must not contain white space or control characters (percent-encode them)");
    let parsed: URL;
    try {
        parsed = new URL(value);
    } catch {
        throw new InputError(field, "must be an absolute http:// or https:// URL");
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:")
        throw new InputError(field, `must use http or https, got ${parsed.protocol.replace(/:$/, "")}`);
    // The normalized form is what any HTTP client sends: percent-encoded path, punycode host.
    return parsed.href;
}

function requireObject(raw: unknown, field: string): Record<string, unknown> {
    if (typeof raw !== "object" || raw === null || Array.isArray(raw))
        throw new InputError(field, `must be an object, got ${describeType(raw)}`);
    return raw as Record<string, unknown>;
}

function rejectUnknown(obj: Record<string, unknown>, field: string, known: readonly string[]): void {
    const unknown = Object.keys(obj).filter((key) => !known.includes(key) && obj[key] !== undefined);
    if (unknown.length > 0) throw new InputError(`${field}.${unknown[0]}`, `is not a known setting (known: ${known.join(", ")})`);
}

function optionalBoolean(value: unknown, field: string): boolean | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "boolean") throw new InputError(field, `must be true or false, got ${describeType(value)}`);
    return value;
}

function oneOf<T extends string>(value: unknown, field: string, allowed: readonly T[]): T {
    if (typeof value !== "string" || !(allowed as readonly string[]).includes(value)) {
        throw new InputError(field, `must be one of ${allowed.join(", ")}, got ${describeType(value)}`);
    }
    return value as T;
}
