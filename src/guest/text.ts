import { InputError } from "../power/errors";

/**
 * Checks a user string that is rendered verbatim into the guest (a command argument, a script,
 * a request body). Everything is representable (quotes, `$`, `%`, backslashes, newlines) except
 * NUL, which no argv, file or environment can carry, and lone UTF-16 surrogates, which have no
 * UTF-8 encoding and would reach the guest as replacement characters.
 */
export function checkRenderableText(value: unknown, field: string): string {
    if (typeof value !== "string") throw new InputError(field, `must be a string, got ${describeType(value)}`);
    if (value.includes("\u0000")) throw new InputError(field, "must not contain NUL bytes");
    if (loneSurrogate.test(value)) throw new InputError(field, "must be valid Unicode (it has a lone UTF-16 surrogate)");
    return value;
}

const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function describeType(value: unknown): string {
    if (value === null) return "null";
    if (Array.isArray(value)) return "a list";
    return typeof value === "object" ? "an object" : `${typeof value} ${JSON.stringify(value)}`.slice(0, 60);
}
