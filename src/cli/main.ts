#!/usr/bin/env node
import { runCli } from "./run";

/** The `graceful-vm` command (package bin). See docs/cli.md or `graceful-vm --help`. */
function main(): void {
    // A first SIGINT/SIGTERM stops the run and still prints what happened so far (JSON under
    // --json); a second one, or a run that does not wind up promptly, exits at once.
    const interrupt = new AbortController();
    for (const [signal, code] of [
        ["SIGINT", 130],
        ["SIGTERM", 143],
    ] as const) {
        process.on(signal, () => {
            if (interrupt.signal.aborted) process.exit(code);
            process.stderr.write(`\ngraceful-vm: interrupted (${signal})\n`);
            interrupt.abort(new Error(signal));
            setTimeout(() => process.exit(code), 3_000).unref();
        });
    }
    runCli(process.argv.slice(2), {
        stdout: process.stdout,
        stderr: process.stderr,
        env: process.env,
        cwd: process.cwd(),
        signal: interrupt.signal,
    }).then(
        (code) => exitAfterFlush(code),
        (e: unknown) => {
            process.stderr.write(`graceful-vm: internal error: ${e instanceof Error ? e.stack : String(e)}\n`);
            exitAfterFlush(1);
        },
    );
}

/**
 * Exits once stdout is written, so that abandoned calls to a frozen endpoint, event watchers
 * and background clean-up (left running past its bound) cannot keep the process alive.
 */
function exitAfterFlush(code: number): void {
    process.exitCode = code;
    process.stdout.write("", () => process.exit(code));
}

main();
