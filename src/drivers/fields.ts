import { InputError, InputErrors, collectInputErrors, throwIfAny } from "../power/errors";

/**
 * Small validators every platform spec uses, so all input errors read alike and name the
 * field (`target.vsphere.url`) the user wrote. None of them echoes a secret's value.
 */

export type Fields = Record<string, unknown>;

export function requireObject(raw: unknown, field: string): Fields {
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
        throw new InputError(field, "is required and must be an object");
    }
    return raw as Fields;
}

export interface StringRules {
    /** Rejects values that do not match, with `description` in the message. */
    readonly pattern?: RegExp;
    readonly description?: string;
    readonly maxLength?: number;
    /** Secret values are never quoted back in messages. */
    readonly secret?: boolean;
}

export function requireString(obj: Fields, key: string, field: string, rules: StringRules = {}): string {
    const value = obj[key];
    if (value === undefined || value === null || value === "") {
        throw new InputError(`${field}.${key}`, "is required");
    }
    return checkString(value, `${field}.${key}`, rules);
}

export function optionalString(obj: Fields, key: string, field: string, rules: StringRules = {}): string | undefined {
    const value = obj[key];
    if (value === undefined || value === null) return undefined;
    return checkString(value, `${field}.${key}`, rules);
}

function checkString(value: unknown, field: string, rules: StringRules): string {
    const shown = (v: unknown): string => (rules.secret ? "(hidden)" : JSON.stringify(v));
    if (typeof value !== "string") throw new InputError(field, `must be a string, got ${typeof value}`);
    if (/[\u0000-\u001f\u007f]/.test(value)) throw new InputError(field, "must not contain control characters or newlines");
    if (value.trim() !== value) throw new InputError(field, `must not start or end with white space, got ${shown(value)}`);
    if (rules.maxLength !== undefined && value.length > rules.maxLength) {
        throw new InputError(field, `must be at most ${rules.maxLength} characters`);
    }
    if (rules.pattern && !rules.pattern.test(value)) {
        throw new InputError(field, `must be ${rules.description ?? `like ${rules.pattern}`}, got ${shown(value)}`);
    }
    return value;
}

export interface SecretRules {
    readonly maxLength?: number;
    /** Sent in an HTTP header: visible ASCII only (anything else makes Node throw mid-request). */
    readonly header?: boolean;
    /** Refuse leading or trailing white space (a copy-paste slip, never part of such a secret). */
    readonly trimmed?: boolean;
    /** The shape it must have, described in the message (the value is never quoted). */
    readonly pattern?: RegExp;
    readonly description?: string;
}

/**
 * A credential: present, a string, not blank, no control characters, within its length, and
 * sendable where it goes. Messages never quote the value.
 */
export function checkSecret(value: unknown, field: string, rules: SecretRules = {}): string {
    if (value === undefined || value === null || value === "") throw new InputError(field, "is required");
    if (typeof value !== "string") throw new InputError(field, `must be a string, got ${Array.isArray(value) ? "array" : typeof value}`);
    if (value.trim() === "") throw new InputError(field, "must not be blank");
    if (/[\u0000-\u001f\u007f]/.test(value)) throw new InputError(field, "must not contain control characters or line breaks");
    if (rules.trimmed && value.trim() !== value) throw new InputError(field, "must not start or end with white space");
    const maxLength = rules.maxLength ?? 1024;
    if (value.length > maxLength) throw new InputError(field, `must be at most ${maxLength} characters`);
    if (rules.header && !/^[\x21-\x7e]+$/.test(value)) {
        throw new InputError(field, "must be visible ASCII characters only (it is sent in an HTTP header), without spaces");
    }
    if (rules.pattern && !rules.pattern.test(value)) throw new InputError(field, `must be ${rules.description ?? "well-formed"}`);
    return value;
}

export function optionalBoolean(obj: Fields, key: string, field: string): boolean | undefined {
    const value = obj[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "boolean") throw new InputError(`${field}.${key}`, `must be true or false, got ${JSON.stringify(value)}`);
    return value;
}

export function requireInteger(obj: Fields, key: string, field: string, min: number, max: number): number {
    const value = obj[key];
    const number = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value;
    if (typeof number !== "number" || !Number.isInteger(number) || number < min || number > max) {
        throw new InputError(`${field}.${key}`, `must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`);
    }
    return number;
}

export function optionalOneOf<T extends string>(obj: Fields, key: string, field: string, allowed: readonly T[]): T | undefined {
    const value = obj[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "string" || !(allowed as readonly string[]).includes(value)) {
        throw new InputError(
            `${field}.${key}`,
            `must be one of ${allowed.map((a) => JSON.stringify(a)).join(", ")}, got ${JSON.stringify(value)}`,
        );
    }
    return value as T;
}

/** An absolute URL with one of the given protocols (`https:`), without embedded credentials. */
export function requireUrl(obj: Fields, key: string, field: string, protocols: readonly string[]): URL {
    const text = requireString(obj, key, field, { secret: true });
    refuseUserInfo(text, `${field}.${key}`);
    let url: URL;
    try {
        url = new URL(text);
    } catch {
        throw new InputError(`${field}.${key}`, `must be an absolute URL such as ${protocols[0]}//host:port/, got ${JSON.stringify(text)}`);
    }
    if (!protocols.includes(url.protocol)) {
        throw new InputError(`${field}.${key}`, `must use ${protocols.join(" or ")}, got ${url.protocol}`);
    }
    if (url.username || url.password) {
        throw new InputError(`${field}.${key}`, "must not embed credentials; pass them in their own fields so they stay secret");
    }
    return url;
}

/** Rejects keys the platform does not know, which are usually typos of optional fields. */
export function rejectUnknownKeys(obj: Fields, field: string, known: readonly string[]): void {
    const unknown = Object.keys(obj).filter((k) => !known.includes(k) && obj[k] !== undefined);
    throwIfAny(unknown.map((key) => unknownKeyError(key, field ? `${field}.${key}` : key, known, "field")));
}

/** `powerstate: is not a known argument; did you mean "powerState"? Expected one of ...`. */
export function unknownKeyError(key: string, field: string, known: readonly string[], noun = "argument"): InputError {
    const guess = didYouMean(key, known);
    return new InputError(
        field,
        `is not a known ${noun}${guess ? `; did you mean ${JSON.stringify(guess)}?` : ""} Expected one of ${known.join(", ")}`,
    );
}

/** The known key closest to `key` (case-insensitive edit distance of at most a third of its length). */
export function didYouMean(key: string, known: readonly string[]): string | undefined {
    const lower = key.toLowerCase();
    let best: { name: string; distance: number } | undefined;
    for (const name of known) {
        const distance = editDistance(lower, name.toLowerCase());
        if (!best || distance < best.distance) best = { name, distance };
    }
    return best && best.distance <= Math.max(1, Math.floor(key.length / 3)) ? best.name : undefined;
}

function editDistance(a: string, b: string): number {
    let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
    for (let i = 1; i <= a.length; i++) {
        const current = [i];
        for (let j = 1; j <= b.length; j++) {
            current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
        }
        previous = current;
    }
    return previous[b.length];
}

/** Runs all field checks and throws every error at once. */
export function validateAll<T>(checks: ReadonlyArray<() => void>, build: () => T): T {
    throwIfAny(collectInputErrors(checks));
    return build();
}

/**
 * Refuses any `@` in an endpoint URL before it is parsed or quoted: a password may hold `/`,
 * `?` or `#`, which end the authority for a URL parser, so only the text itself is safe to
 * judge. Endpoints of ours never need an `@`.
 */
export function refuseUserInfo(text: string, field: string): void {
    if (text.includes("@")) {
        throw new InputError(field, "must not embed credentials (user:password@); pass them in their own fields so they stay secret");
    }
}

export { InputError, InputErrors };
