import * as fs from "fs";
import * as path from "path";

/**
 * The published PVE API schema drives the contract server's parameter checks, so the server
 * rejects exactly what the real API's JSON-schema check rejects. The fields it needs are
 * transcribed into fixtures/ (its `_source` names the PVE release and the API viewer data).
 */

export interface ParameterSchema {
    readonly type?: string;
    readonly format?: unknown;
    readonly minimum?: number;
    readonly maximum?: number;
    readonly enum?: readonly string[];
    readonly optional?: number;
}

export interface MethodSchema {
    readonly name: string;
    readonly method: string;
    readonly allowtoken?: number;
    /** `node`: any node takes the request and proxies it to `{node}`. */
    readonly proxyto?: string;
    readonly parameters: {
        readonly additionalProperties?: number;
        readonly properties?: Readonly<Record<string, ParameterSchema>>;
    };
    readonly returns?: unknown;
}

export interface EndpointSchema {
    readonly path: string;
    readonly pattern: RegExp;
    readonly info: Readonly<Record<string, MethodSchema>>;
}

const fixtureFile = "pve-9.1-api-qemu-power.json";

interface Fixture {
    readonly endpoints: Array<{ path: string; info?: Record<string, MethodSchema> }>;
    /** Per PVE major version: which privilege each operation needs. */
    readonly privilegesByVersion: Readonly<Record<string, Readonly<Record<string, readonly string[]>>>>;
}

/**
 * The fixture beside this file (tests), or under the working directory (compiled benchmarks
 * run from the repository root); PVE_CONTRACT_SCHEMA overrides.
 */
export function schemaFile(): string {
    if (process.env.PVE_CONTRACT_SCHEMA) return process.env.PVE_CONTRACT_SCHEMA;
    const candidates = [path.join(__dirname, "fixtures"), path.resolve(process.cwd(), "test/contracts/proxmox/fixtures")].map((dir) =>
        path.join(dir, fixtureFile),
    );
    return candidates.find((file) => fs.existsSync(file)) ?? candidates[0];
}

function readFixture(file: string): Fixture {
    try {
        return JSON.parse(fs.readFileSync(file, "utf8")) as Fixture;
    } catch (e) {
        throw new Error(`the Proxmox contract server reads the PVE API schema fixture at ${file}`, { cause: e });
    }
}

/** The privileges the fixture lists for one PVE major version (`"8"`, `"9"`). */
export function privilegesFor(major: string, file = schemaFile()): Readonly<Record<string, readonly string[]>> {
    const table = readFixture(file).privilegesByVersion[major];
    if (!table) throw new Error(`the schema fixture lists no privileges for PVE ${major}`);
    return table;
}

export function loadSchema(file = schemaFile()): EndpointSchema[] {
    return readFixture(file)
        .endpoints.filter((e) => e.info)
        .map((e) => ({ path: e.path, pattern: pathPattern(e.path), info: e.info as Record<string, MethodSchema> }));
}

/** `/nodes/{node}/tasks/{upid}` → a regex whose named groups are the path parameters. */
function pathPattern(template: string): RegExp {
    const source = template
        .replace(/[.*+?^$()|[\]\\]/g, "\\$&")
        .replace(/\{([^}]+)\}/g, (_, name: string) => `(?<${name.replace(/[^A-Za-z0-9_]/g, "_")}>[^/]+)`);
    return new RegExp(`^${source}$`);
}

export function findEndpoint(
    schema: readonly EndpointSchema[],
    pathname: string,
): { endpoint: EndpointSchema; pathParameters: Record<string, string> } | undefined {
    for (const endpoint of schema) {
        const match = endpoint.pattern.exec(pathname);
        if (match) {
            const pathParameters = Object.fromEntries(Object.entries(match.groups ?? {}).map(([k, v]) => [k, decodeURIComponent(v)]));
            return { endpoint, pathParameters };
        }
    }
    return undefined;
}

const nodeNamePattern = /^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$/;

/**
 * PVE's JSONSchema check: unknown keys, missing required keys, types (form values are strings;
 * booleans only as `1`/`0`, JSON booleans in JSON bodies), ranges, enums, and the two formats
 * this API uses for identity. Returns the converted values and per-parameter errors.
 */
export function checkParameters(
    method: MethodSchema,
    input: Record<string, unknown>,
): { values: Record<string, unknown>; errors: Record<string, string> } {
    const properties = method.parameters.properties ?? {};
    const errors: Record<string, string> = {};
    const values: Record<string, unknown> = {};
    for (const key of Object.keys(input)) {
        if (!(key in properties) && method.parameters.additionalProperties === 0) {
            errors[key] = "property is not defined in schema and the schema does not allow additional properties";
        }
    }
    for (const [key, rule] of Object.entries(properties)) {
        const value = input[key];
        if (value === undefined) {
            if (!rule.optional) errors[key] = "property is missing and it is not optional";
            continue;
        }
        const checked = checkValue(rule, value);
        if (typeof checked === "string") errors[key] = checked;
        else values[key] = checked.value;
    }
    return { values, errors };
}

function checkValue(rule: ParameterSchema, value: unknown): { value: unknown } | string {
    const shown = typeof value === "string" ? value : JSON.stringify(value);
    switch (rule.type) {
        case "boolean":
            if (value === true || value === false) return { value };
            if (value === "1" || value === 1) return { value: true };
            if (value === "0" || value === 0) return { value: false };
            return `type check ('boolean') failed - got '${shown}'`;
        case "integer": {
            const n = typeof value === "number" ? value : typeof value === "string" && /^[+-]?\d+$/.test(value) ? Number(value) : NaN;
            if (!Number.isInteger(n)) return `type check ('integer') failed - got '${shown}'`;
            if (rule.minimum !== undefined && n < rule.minimum) return `value must have a minimum value of ${rule.minimum}`;
            if (rule.maximum !== undefined && n > rule.maximum) return `value must have a maximum value of ${rule.maximum}`;
            return { value: n };
        }
        case "string": {
            if (typeof value !== "string") return `type check ('string') failed - got '${shown}'`;
            if (rule.enum && !rule.enum.includes(value))
                return `value '${value}' does not have a value in the enumeration '${rule.enum.join(", ")}'`;
            if (rule.format === "pve-node" && !nodeNamePattern.test(value))
                return "invalid format - value does not look like a valid node name";
            return { value };
        }
        default:
            return { value };
    }
}
