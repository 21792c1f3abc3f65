import { parseArgs } from "util";
import { DesiredPowerState, ObservedPowerState, observedPowerStates } from "../power/states";
import { TargetValues, targetFlagOptions, targetFlagValues } from "./targetFlags";
import { UsageError } from "./usageError";

export const commands = ["status", "on", "off"] as const;
export type Command = (typeof commands)[number];

/** What the command line asked for, before the target is read or validated. */
export interface CliRequest {
    readonly command: Command;
    /** For `on`/`off`: the state to reach. */
    readonly desired?: DesiredPowerState;
    readonly configFile?: string;
    /** Target fields given as flags (`--vsphere-url`, `--domain`), per platform. */
    readonly targetFlags: TargetValues;
    /** `status --expect`: the states that count as a match (exit 0); anything else exits 1. */
    readonly expect?: readonly ObservedPowerState[];
    readonly timeout?: string;
    readonly noForce: boolean;
    readonly waitForAgent: boolean;
    readonly json: boolean;
    readonly quiet: boolean;
}

export type ParsedArgs = { readonly kind: "help" } | { readonly kind: "version" } | { readonly kind: "run"; readonly request: CliRequest };

export { UsageError };

const options = {
    ...targetFlagOptions(),
    config: { type: "string" },
    expect: { type: "string" },
    graceful: { type: "boolean" },
    hard: { type: "boolean" },
    deallocate: { type: "boolean" },
    timeout: { type: "string" },
    "no-force": { type: "boolean" },
    "wait-for-agent": { type: "boolean" },
    json: { type: "boolean" },
    quiet: { type: "boolean" },
    help: { type: "boolean", short: "h" },
    version: { type: "boolean" },
} as const;

export function parseCommandLine(argv: readonly string[]): ParsedArgs {
    let parsed;
    try {
        parsed = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
    } catch (e) {
        throw new UsageError(e instanceof Error ? e.message.split("\n")[0] : String(e));
    }
    const { values, positionals } = parsed;
    if (values.help) return { kind: "help" };
    if (values.version) return { kind: "version" };
    if (positionals.length === 0) throw new UsageError(`a command is required: ${commands.join(", ")}`);
    if (positionals.length > 1) throw new UsageError(`one command at a time; got ${positionals.map((p) => JSON.stringify(p)).join(" ")}`);
    const command = positionals[0];
    if (!(commands as readonly string[]).includes(command)) {
        throw new UsageError(`unknown command ${JSON.stringify(command)}; expected one of ${commands.join(", ")}`);
    }
    const offModes = (["graceful", "hard", "deallocate"] as const).filter((flag) => values[flag]);
    if (command !== "off" && offModes.length > 0) throw new UsageError(`--${offModes[0]} applies to "off" only`);
    if (offModes.length > 1) throw new UsageError(`choose one of --${offModes.join(", --")}`);
    if (command !== "on" && values["wait-for-agent"]) throw new UsageError(`--wait-for-agent applies to "on" only`);
    if (command !== "status" && values.expect !== undefined) throw new UsageError(`--expect applies to "status" only`);
    const asksGuest = offModes[0] === "graceful" || offModes[0] === "deallocate";
    for (const flag of ["timeout", "no-force"] as const) {
        if (values[flag] !== undefined && !asksGuest) {
            throw new UsageError(`--${flag} applies to "off --graceful" (or --deallocate) only; a plain "off" powers off hard at once`);
        }
    }

    return {
        kind: "run",
        request: {
            command: command as Command,
            desired: desiredState(command as Command, offModes[0]),
            configFile: values.config,
            targetFlags: targetFlagValues(values),
            expect: values.expect === undefined ? undefined : expectedStates(values.expect),
            timeout: values.timeout,
            noForce: values["no-force"] ?? false,
            waitForAgent: values["wait-for-agent"] ?? false,
            json: values.json ?? false,
            quiet: values.quiet ?? false,
        },
    };
}

/** `stopped` or `stopped,deallocated`. */
function expectedStates(text: string): ObservedPowerState[] {
    const states = text.split(",").map((s) => s.trim());
    const unknown = states.filter((s) => !(observedPowerStates as readonly string[]).includes(s));
    if (states.length === 0 || unknown.length > 0) {
        throw new UsageError(
            `--expect ${JSON.stringify(unknown[0] ?? text)} is not a power state; expected one or more of ${observedPowerStates.join(", ")} (comma-separated)`,
        );
    }
    return states as ObservedPowerState[];
}

function desiredState(command: Command, offMode: "graceful" | "hard" | "deallocate" | undefined): DesiredPowerState | undefined {
    if (command === "on") return "On";
    if (command === "status") return undefined;
    if (offMode === "graceful") return "OffGraceful";
    if (offMode === "deallocate") return "Deallocated";
    return "Off";
}
