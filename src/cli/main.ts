#!/usr/bin/env node
import { runCli } from "./run";

/** The `graceful-vm` command (package bin). See docs/cli.md or `graceful-vm --help`. */
function main(): void {
    // Exit through process.exit so the drivers' helper processes (virsh event watchers) end too.
    for (const [signal, code] of [
        ["SIGINT", 130],
        ["SIGTERM", 143],
    ] as const) {
        process.once(signal, () => {
            process.stderr.write(`\ngraceful-vm: interrupted (${signal}); the VM may be in the middle of a power change\n`);
            process.exit(code);
        });
    }
    runCli(process.argv.slice(2), {
        stdout: process.stdout,
        stderr: process.stderr,
        env: process.env,
        cwd: process.cwd(),
    }).then(
        (code) => {
            process.exitCode = code;
        },
        (e: unknown) => {
            process.stderr.write(`graceful-vm: internal error: ${e instanceof Error ? e.stack : String(e)}\n`);
            process.exitCode = 1;
        },
    );
}

main();
