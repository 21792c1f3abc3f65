import * as fs from "fs";
import * as path from "path";
import { parseDuration } from "../power/duration";
import { InputError, InputErrors, InterruptedError, PowerTransitionError, VmNotFoundError } from "../power/errors";
import { TransitionReport, summarizeReport } from "../power/report";
import { VmPowerInputs } from "../operations/inputs";
import { transition, withDriver } from "../operations/run";
import { CliRequest, UsageError, parseCommandLine } from "./args";
import { buildInputs } from "./config";
import { exitCodeFor, exitCodes } from "./exitCodes";
import { helpText } from "./help";
import { runFleetCli } from "./fleet";
import { FleetFile, readFleetFile } from "./fleetFile";
import { ProgressLine, ProgressStream } from "./progress";

/** Where the CLI reads and writes; the real process in main.ts, buffers in tests. */
export interface CliIo {
    readonly stdout: { write(text: string): void };
    readonly stderr: ProgressStream;
    readonly env: NodeJS.ProcessEnv;
    readonly cwd: string;
    /**
     * Aborted on SIGINT/SIGTERM (main.ts): the run stops at once and the CLI still prints what
     * happened so far (JSON under --json) and exits 130/143. The abort reason names the signal.
     */
    readonly signal?: AbortSignal;
}

/** Runs one `graceful-vm` invocation and returns its exit code. Never throws. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
    // Known before parsing, so even a usage error is JSON for a pipeline that asked for JSON.
    const wantsJson = argv.includes("--json");
    let request: CliRequest;
    let inputs: VmPowerInputs | undefined;
    let fleet: FleetFile | undefined;
    let timeouts: { verifyTimeoutMs?: number; callTimeoutMs?: number } = {};
    try {
        const parsed = parseCommandLine(argv);
        if (parsed.kind === "help") {
            io.stdout.write(helpText);
            return exitCodes.ok;
        }
        if (parsed.kind === "version") {
            io.stdout.write(`${packageVersion()}\n`);
            return exitCodes.ok;
        }
        request = parsed.request;
        timeouts = {
            verifyTimeoutMs: request.verifyTimeout === undefined ? undefined : parseDuration(request.verifyTimeout, "--verify-timeout"),
            callTimeoutMs: request.callTimeout === undefined ? undefined : parseDuration(request.callTimeout, "--call-timeout"),
        };
        if (request.fleetFile !== undefined) {
            fleet = readFleetFile(request, io.env, io.cwd);
        } else {
            inputs = buildInputs(request, io.env, io.cwd);
            // A restart of one VM is a fleet of one: the same steps and report.
            fleet = { vms: [{ name: vmName(inputs), tier: 0, inputs }], tierNames: ["vm"] };
        }
    } catch (e) {
        return usageFailure(e, io, wantsJson);
    }
    if (fleet !== undefined && (request.fleetFile !== undefined || request.command === "restart")) {
        try {
            return await runFleetCli(request, fleet, io);
        } catch (e) {
            return failure(e, request, io);
        }
    }
    if (inputs === undefined) return usageFailure(new UsageError("no target"), io, wantsJson);
    return request.command === "status" ? status(request, inputs, io) : change(request, inputs, io, timeouts);
}

async function status(request: CliRequest, inputs: VmPowerInputs, io: CliIo): Promise<number> {
    try {
        const result = await withDriver(inputs, { log: logTo(io, request) }, async (driver) => ({
            platform: driver.platform,
            vm: driver.vmDescription,
            state: await driver.readState(),
        }));
        const body = {
            platform: result.platform,
            vm: result.vm,
            state: result.state.state,
            ...(result.state.detail ? { detail: result.state.detail } : {}),
        };
        const matches = request.expect === undefined || request.expect.includes(result.state.state);
        const expectation = request.expect === undefined ? {} : { expected: request.expect, matches };
        io.stdout.write(
            request.json
                ? `${JSON.stringify({ ...body, ...expectation }, null, 2)}\n`
                : `${body.vm}: ${body.state}${body.detail ? ` (${body.detail})` : ""}${matches ? "" : ` (expected ${request.expect?.join(" or ")})`}\n`,
        );
        return matches ? exitCodes.ok : exitCodes.failure;
    } catch (e) {
        return failure(e, request, io);
    }
}

async function change(
    request: CliRequest,
    inputs: VmPowerInputs,
    io: CliIo,
    timeouts: { verifyTimeoutMs?: number; callTimeoutMs?: number },
): Promise<number> {
    const progress = request.quiet ? undefined : new ProgressLine(io.stderr);
    try {
        const report = await transition(inputs, request.desired ?? "On", {
            log: logTo(io, request),
            onProgress: progress?.update,
            signal: io.signal,
            ...timeouts,
        });
        progress?.finish();
        writeReport(report, request, io);
        return exitCodeFor(report);
    } catch (e) {
        progress?.finish();
        return failure(e, request, io);
    }
}

function writeReport(report: TransitionReport, request: CliRequest, io: CliIo): void {
    io.stdout.write(request.json ? `${JSON.stringify(report, null, 2)}\n` : `${summarizeReport(report)}\n`);
}

function failure(error: unknown, request: CliRequest, io: CliIo): number {
    if (error instanceof InputError || error instanceof InputErrors || error instanceof UsageError)
        return usageFailure(error, io, request.json);
    const message = error instanceof Error ? error.message : String(error);
    const interrupted = interruptedBy(error);
    const exitCode =
        interrupted === undefined ? exitCodes.failure : interrupted === "SIGTERM" ? exitCodes.terminated : exitCodes.interrupted;
    io.stderr.write(`graceful-vm: ${error instanceof VmNotFoundError ? "" : "failed: "}${message}\n`);
    if (interrupted !== undefined) io.stderr.write(`graceful-vm: the VM may be in the middle of a power change\n`);
    if (request.json) {
        const report = error instanceof PowerTransitionError ? (error.report as TransitionReport) : undefined;
        const errorType = interrupted !== undefined ? "InterruptedError" : error instanceof Error ? error.name : "Error";
        io.stdout.write(
            `${JSON.stringify({ error: message, errorType, exitCode, ...(interrupted ? { signal: interrupted } : {}), ...(report ? { report } : {}) }, null, 2)}\n`,
        );
    }
    return exitCode;
}

/** The signal that interrupted the run (SIGINT, SIGTERM), when it was interrupted. */
function interruptedBy(error: unknown): string | undefined {
    const interrupted =
        error instanceof InterruptedError
            ? error
            : error instanceof Error && error.cause instanceof InterruptedError
              ? error.cause
              : undefined;
    if (!interrupted) return undefined;
    return /SIGTERM/.test(interrupted.message) ? "SIGTERM" : "SIGINT";
}

function usageFailure(error: unknown, io: CliIo, json: boolean): number {
    if (error instanceof UsageError || error instanceof InputError || error instanceof InputErrors) {
        io.stderr.write(`graceful-vm: ${error.message.split("\n").join("\ngraceful-vm: ")}\nRun "graceful-vm --help" for usage.\n`);
        if (json) writeJsonError(io, error, exitCodes.usage, fieldsOf(error));
        return exitCodes.usage;
    }
    const message = `internal error: ${error instanceof Error ? error.message : String(error)}`;
    io.stderr.write(`graceful-vm: ${message}\n`);
    if (json) writeJsonError(io, error, exitCodes.failure);
    return exitCodes.failure;
}

/** The fields an input error names, so a pipeline can point at the setting without parsing text. */
function fieldsOf(error: UsageError | InputError | InputErrors): string[] | undefined {
    if (error instanceof InputErrors) return error.errors.map((e) => e.field);
    if (error instanceof InputError) return [error.field];
    return undefined;
}

function writeJsonError(io: CliIo, error: unknown, exitCode: number, fields?: string[]): void {
    const body = {
        error: error instanceof Error ? error.message : String(error),
        errorType: error instanceof Error ? error.name : "Error",
        exitCode,
        ...(fields ? { fields } : {}),
    };
    io.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
}

function logTo(io: CliIo, request: CliRequest): (message: string) => void {
    return (message) => {
        if (!request.quiet) io.stderr.write(`graceful-vm: ${message}\n`);
    };
}

/** What a one-VM restart calls its VM in reports: the platform's own name field. */
function vmName(inputs: VmPowerInputs): string {
    for (const key of ["domain", "vm", "vmName", "vmId", "name"]) {
        const value = inputs.target[key];
        if (typeof value === "string" || typeof value === "number") return String(value);
    }
    return "vm";
}

function packageVersion(): string {
    // Compiled: lib/src/cli/run.js (three levels down); under ts-jest: src/cli/run.ts (two).
    for (const candidate of [path.join(__dirname, "..", "..", "..", "package.json"), path.join(__dirname, "..", "..", "package.json")]) {
        try {
            const pkg = JSON.parse(fs.readFileSync(candidate, "utf8")) as { name?: string; version?: string };
            if (pkg.name === "pulumi-graceful-vm" && pkg.version) return pkg.version;
        } catch {
            // try the next layout
        }
    }
    return "unknown";
}
