import * as pulumi from "@pulumi/pulumi";
import { containsUnknown, unknownValue } from "../src/operations/inputs";

/** The value with every Output or Promise inside it replaced by the "not known yet" marker. */
export function knownParts(value: unknown): unknown {
    if (pulumi.Output.isInstance(value) || value instanceof Promise) return unknownValue;
    if (Array.isArray(value)) return value.map(knownParts);
    if (value && typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, knownParts(v)]));
    }
    return value;
}

/** A plain value all the way down: no Output or Promise anywhere inside. */
export function isKnown(value: unknown): boolean {
    return !containsUnknown(knownParts(value));
}
