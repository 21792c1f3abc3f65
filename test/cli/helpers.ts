import { CliIo, runCli } from "../../src/cli/run";

export interface CliResult {
    readonly code: number;
    readonly stdout: string;
    readonly stderr: string;
    json<T = Record<string, unknown>>(): T;
}

/** Runs the CLI in-process with captured output. */
export async function cli(
    argv: readonly string[],
    env: NodeJS.ProcessEnv = {},
    cwd = process.cwd(),
    isTTY = false,
    signal?: AbortSignal,
): Promise<CliResult> {
    let stdout = "";
    let stderr = "";
    const io: CliIo = {
        stdout: { write: (t) => void (stdout += t) },
        stderr: { write: (t) => void (stderr += t), isTTY },
        env,
        cwd,
        signal,
    };
    const code = await runCli(argv, io);
    return { code, stdout, stderr, json: <T>() => JSON.parse(stdout) as T };
}
