import { parseArgs } from "util";
import { DesiredPowerState, ObservedPowerState, observedPowerStates } from "../power/states";
import { TargetValues, targetFlagOptions, targetFlagValues } from "./targetFlags";
import { UsageError } from "./usageError";

export const commands = ["status", "on", "off", "restart"] as const;
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
    /** `--verify-timeout`: how long the power change may take to show after it is made. */
    readonly verifyTimeout?: string;
    /** `--call-timeout`: the wall-clock bound of one platform call (TLS handshake included). */
    readonly callTimeout?: string;
    readonly noForce: boolean;
    readonly waitForAgent: boolean;
    readonly json: boolean;
    readonly quiet: boolean;
    /** `--fleet FILE`: tiers of VMs instead of one. */
    readonly fleetFile?: string;
    /** VMs changed at once (fleet). */
    readonly concurrency?: number;
    /** VMs changed at once per management endpoint (fleet). */
    readonly perEndpoint?: number;
    /** What a failed VM does to later tiers (fleet). */
    readonly onFailure?: "halt" | "continue";
    /** Print the plan, change nothing. */
    readonly dryRun: boolean;
    /** `--progress json`: JSON lines on stderr for pipelines. */
    readonly progressJson: boolean;
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
    "verify-timeout": { type: "string" },
    "call-timeout": { type: "string" },
    "no-force": { type: "boolean" },
    "wait-for-agent": { type: "boolean" },
    json: { type: "boolean" },
    fleet: { type: "string" },
    concurrency: { type: "string" },
    "per-endpoint": { type: "string" },
    "on-failure": { type: "string" },
    "dry-run": { type: "boolean" },
    progress: { type: "string" },
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
    if (command !== "on" && command !== "restart" && values["wait-for-agent"]) {
        throw new UsageError(`--wait-for-agent applies to "on" and "restart" only`);
    }
    for (const flag of ["verify-timeout", "call-timeout"] as const) {
        if (command === "status" && values[flag] !== undefined) throw new UsageError(`--${flag} applies to "on", "off" and "restart" only`);
    }
    if (command !== "status" && values.expect !== undefined) throw new UsageError(`--expect applies to "status" only`);
    const asksGuest = offModes[0] === "graceful" || offModes[0] === "deallocate" || command === "restart";
    for (const flag of ["timeout", "no-force"] as const) {
        if (values[flag] !== undefined && !asksGuest) {
            throw new UsageError(
                `--${flag} applies to "off --graceful" (or --deallocate) and "restart" only; a plain "off" powers off hard at once`,
            );
        }
    }
    if (values.fleet === undefined) {
        for (const flag of ["concurrency", "per-endpoint", "on-failure", "dry-run"] as const) {
            if (values[flag] !== undefined) throw new UsageError(`--${flag} applies to --fleet only`);
        }
    } else if (values.config !== undefined) {
        throw new UsageError("--fleet and --config: choose one (a fleet file holds each VM's target)");
    }
    if (values.progress !== undefined && values.progress !== "json") {
        throw new UsageError(`--progress ${JSON.stringify(values.progress)}: the only format is "json"`);
    }
    if (values["on-failure"] !== undefined && !["halt", "continue"].includes(values["on-failure"])) {
        throw new UsageError(`--on-failure ${JSON.stringify(values["on-failure"])}: expected halt or continue`);
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
            verifyTimeout: values["verify-timeout"],
            callTimeout: values["call-timeout"],
            noForce: values["no-force"] ?? false,
            waitForAgent: values["wait-for-agent"] ?? false,
            json: values.json ?? false,
            quiet: values.quiet ?? false,
            fleetFile: values.fleet,
            concurrency: wholeNumber(values.concurrency, "--concurrency"),
            perEndpoint: wholeNumber(values["per-endpoint"], "--per-endpoint"),
            onFailure: values["on-failure"] as "halt" | "continue" | undefined,
            dryRun: values["dry-run"] ?? false,
            progressJson: values.progress === "json",
        },
    };
}

function wholeNumber(text: string | undefined, flag: string): number | undefined {
    if (text === undefined) return undefined;
    if (!/^[1-9][0-9]*$/.test(text.trim())) throw new UsageError(`${flag} ${JSON.stringify(text)}: expected a whole number of at least 1`);
    return Number(text.trim());
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
    if (command === "status" || command === "restart") return undefined;
    if (offMode === "graceful") return "OffGraceful";
    if (offMode === "deallocate") return "Deallocated";
    return "Off";
}
