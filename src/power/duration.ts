import { InputError } from "./errors";

/** A duration as users write it: `"90s"`, `"2m"`, `"1m30s"`, `"1h"`, `"500ms"`, or seconds. */
export type Duration = string | number;

const unitMs: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1_000, ms: 1 };
const wholePattern = /^(?:\d+(?:\.\d+)?(?:h|ms|m|s))+$/;
const partPattern = /(\d+(?:\.\d+)?)(h|ms|m|s)/g;
const maxMs = 24 * 3_600_000;

export interface DurationOptions {
    /** Accept 0 (e.g. "do not wait"). @default false */
    readonly allowZero?: boolean;
}

/** Parses a duration into milliseconds; throws an InputError naming `field` otherwise. */
export function parseDuration(value: unknown, field: string, options: DurationOptions = {}): number {
    const ms = toMilliseconds(value, field);
    if (ms === 0 && !options.allowZero) {
        throw new InputError(field, "must be greater than zero");
    }
    if (ms > maxMs) {
        throw new InputError(field, `must be at most 24h, got ${describeValue(value)}`);
    }
    return ms;
}

function toMilliseconds(value: unknown, field: string): number {
    if (typeof value === "number") {
        if (!Number.isFinite(value)) throw new InputError(field, `must be a finite number of seconds, got ${value}`);
        if (value < 0) throw new InputError(field, `must not be negative, got ${value}`);
        return Math.round(value * 1000);
    }
    if (typeof value !== "string") {
        throw new InputError(
            field,
            `must be a duration such as "90s", "2m" or "1m30s", or a number of seconds; got ${describeValue(value)}`,
        );
    }
    const text = value.trim();
    if (/^-/.test(text)) throw new InputError(field, `must not be negative, got ${describeValue(value)}`);
    if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
    if (!wholePattern.test(text)) {
        throw new InputError(
            field,
            `must be a duration such as "90s", "2m" or "1m30s", or a number of seconds; got ${describeValue(value)}`,
        );
    }
    let total = 0;
    for (const match of text.matchAll(partPattern)) {
        total += Number(match[1]) * unitMs[match[2]];
    }
    return Math.round(total);
}

/** "1m30s" for 90000; what reports and messages show. */
export function formatDuration(ms: number): string {
    if (ms < 1000) return `${Math.round(ms)}ms`;
    const totalSeconds = Math.round(ms / 100) / 10;
    const h = Math.floor(totalSeconds / 3600);
    const m = Math.floor((totalSeconds % 3600) / 60);
    const s = Math.round((totalSeconds % 60) * 10) / 10;
    return `${h ? `${h}h` : ""}${m ? `${m}m` : ""}${s || (!h && !m) ? `${s}s` : ""}`;
}

/**
 * "1m30s" for 90000, "1m0.001s" for 60001: exact to the millisecond, for messages where a
 * rounded number could hide the difference that matters (a budget over its limit by 1 ms).
 */
export function formatExactDuration(ms: number): string {
    const whole = Math.round(ms);
    if (whole < 1000) return `${whole}ms`;
    const h = Math.floor(whole / 3_600_000);
    const m = Math.floor((whole % 3_600_000) / 60_000);
    const restMs = whole % 60_000;
    const s = restMs % 1000 === 0 ? String(restMs / 1000) : (restMs / 1000).toFixed(3).replace(/0+$/, "");
    return `${h ? `${h}h` : ""}${m ? `${m}m` : ""}${restMs || (!h && !m) ? `${s}s` : ""}`;
}

function describeValue(value: unknown): string {
    if (value === undefined) return "nothing";
    if (value === null) return "null";
    const text = typeof value === "string" ? JSON.stringify(value) : String(value);
    return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}
