import { InputError } from "../power/errors";

/**
 * Service unit names as systemd accepts them: `[A-Za-z0-9:_.@-]`, a `.service` suffix, an
 * instance after `@` for templates, at most 255 characters. Backslash escapes (`\x2d`) are
 * refused rather than interpreted, and so is everything else, so a name can never add a line or
 * a specifier (`%`) to a unit file.
 */
export function normalizeServiceName(value: unknown, field: string): string {
    if (typeof value !== "string" || value === "")
        throw new InputError(field, 'is required and must be a systemd service name such as "app" or "app.service"');
    const name = value.endsWith(".service") ? value : `${value}.service`;
    const stem = name.slice(0, -".service".length);
    if (name.length > 255) throw new InputError(field, "must be at most 255 characters (systemd's limit for unit names)");
    if (!/^[A-Za-z0-9:_.@-]+$/.test(stem)) {
        throw new InputError(
            field,
            `must be a systemd service name (letters, digits, ":", "_", ".", "@", "-"), got ${JSON.stringify(value)}`,
        );
    }
    const at = stem.indexOf("@");
    if (at === 0 || (at > 0 && (stem.indexOf("@", at + 1) !== -1 || at === stem.length - 1))) {
        throw new InputError(field, `must name a service or a template instance ("app@1"), not a template, got ${JSON.stringify(value)}`);
    }
    if (/^\.|\.$/.test(stem) || stem.includes("..")) {
        throw new InputError(field, `must be a systemd service name, got ${JSON.stringify(value)}`);
    }
    return name;
}

/** One `[Section]` of a unit file: each entry is a key and its (already safe) value. */
export interface UnitSection {
    readonly name: string;
    readonly entries: ReadonlyArray<readonly [string, string]>;
}

/**
 * Renders a unit file. Values here are built by this package, but still pass through
 * {@link escapeUnitValue}, so a future caller handing in user text cannot add specifiers.
 */
export function renderUnit(comment: readonly string[], sections: readonly UnitSection[]): string {
    const lines = comment.map((line) => `# ${line}`);
    for (const section of sections) {
        if (lines.length > 0) lines.push("");
        lines.push(`[${section.name}]`);
        for (const [key, value] of section.entries) lines.push(`${key}=${escapeUnitValue(value)}`);
    }
    return `${lines.join("\n")}\n`;
}

/** `%` starts a specifier in every unit setting; `%%` is a literal `%`. Line breaks would end the setting. */
export function escapeUnitValue(value: string): string {
    if (/[\r\n\u0000]/.test(value)) throw new Error(`unit values cannot contain line breaks: ${JSON.stringify(value)}`);
    return value.replace(/%/g, "%%");
}

/** systemd time spans in milliseconds (`TimeoutStopSec=1500ms`), exact for any parsed duration. */
export function unitTimeSpan(ms: number): string {
    return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}
