import { execFile } from "child_process";

/**
 * Runs one benchmark scenario as `node <file> --child ...args` in a process of its own, so its
 * peak RSS is its own, and parses the last line it prints as JSON. Asynchronous: the parent
 * may be serving the peer (an in-process contract server) meanwhile.
 */
export function runScenarioChild<T>(file: string, args: readonly string[], env: Record<string, string> = {}): Promise<T> {
    return new Promise((resolve, reject) => {
        const child = execFile(
            process.execPath,
            [file, "--child", ...args],
            { encoding: "utf8", env: { ...process.env, ...env }, maxBuffer: 1 << 24 },
            (error, stdout) => {
                if (error) return reject(error);
                try {
                    resolve(JSON.parse(stdout.trim().split("\n").at(-1) as string) as T);
                } catch (e) {
                    reject(new Error(`the scenario printed no result: ${stdout.slice(-500)}`, { cause: e }));
                }
            },
        );
        child.stderr?.pipe(process.stderr);
    });
}

/** This process's peak resident set size, in MB. */
export function peakRssMb(): number {
    return Math.round(process.resourceUsage().maxRSS / 1024);
}

/** One line of a fixed-width table: the first cell left-aligned, the others right-aligned. */
export function tableRow(cells: readonly string[], widths: readonly number[]): string {
    return cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 8) : c.padStart(widths[i] ?? 8))).join(" ");
}
