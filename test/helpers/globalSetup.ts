/**
 * Jest globalSetup: what the compiled package needs before any test runs. The dynamic-provider
 * host resolves `pulumi-graceful-vm/provider-runtime` from its working directory, as it would from
 * a user's program, and the CLI tests run lib/src/cli/main.js: so `node_modules/pulumi-graceful-vm`
 * must point at this checkout and lib/ must be a build of the current sources. scripts/test.sh
 * does both before jest (then this finds nothing to do); this makes a bare `npx jest test/harness`
 * work as well, in a fresh clone or after an edit to src/.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

const root = path.resolve(__dirname, "../..");
/** What `npm run build` (tsconfig.build.json) compiles, and the configuration it reads. */
const buildInputs = ["index.ts", "src", "components", "tsconfig.json", "tsconfig.build.json", "package.json"];
/** tsc rewrites every output on each build (no incremental mode), so one output dates the build. */
const buildOutput = path.join(root, "lib", "index.js");

function newestFile(entry: string): { file: string; mtimeMs: number } | undefined {
    let stat: fs.Stats;
    try {
        stat = fs.statSync(entry);
    } catch {
        return undefined;
    }
    if (!stat.isDirectory()) return { file: entry, mtimeMs: stat.mtimeMs };
    let newest: { file: string; mtimeMs: number } | undefined;
    for (const name of fs.readdirSync(entry)) {
        const found = newestFile(path.join(entry, name));
        if (found && (!newest || found.mtimeMs > newest.mtimeMs)) newest = found;
    }
    return newest;
}

/** Why lib/ must be rebuilt, or undefined when it is up to date. */
function staleReason(): string | undefined {
    let built: number;
    try {
        built = fs.statSync(buildOutput).mtimeMs;
    } catch {
        return "lib/ is not built";
    }
    for (const input of buildInputs) {
        const newest = newestFile(path.join(root, input));
        if (newest && newest.mtimeMs > built) return `${path.relative(root, newest.file)} is newer than lib/`;
    }
    return undefined;
}

function buildLib(): void {
    const reason = staleReason();
    if (!reason) return;
    const started = Date.now();
    process.stderr.write(`\njest globalSetup: ${reason}; building it (npm run build)\n`);
    const tsc = require.resolve("typescript/bin/tsc", { paths: [root] });
    // stdout would mix with `jest --json` on stdout: the compiler's messages go to stderr.
    const result = spawnSync(process.execPath, [tsc, "-p", "tsconfig.build.json"], { cwd: root, stdio: ["ignore", 2, 2] });
    if (result.status !== 0) {
        throw new Error(`jest globalSetup: building lib/ failed (tsc exit ${String(result.status ?? result.signal)})`, {
            cause: result.error,
        });
    }
    process.stderr.write(`jest globalSetup: built lib/ in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}

/** `node_modules/pulumi-graceful-vm` → this checkout, as scripts/test.sh links it. */
function linkPackage(): void {
    const link = path.join(root, "node_modules", "pulumi-graceful-vm");
    let existing: fs.Stats | undefined;
    try {
        existing = fs.lstatSync(link);
    } catch {
        existing = undefined;
    }
    if (existing) {
        if (existing.isSymbolicLink() && fs.realpathSync(link) === fs.realpathSync(root)) return;
        if (!existing.isSymbolicLink()) {
            throw new Error(`jest globalSetup: ${link} is a real directory, not the link to this checkout; remove it`);
        }
        fs.unlinkSync(link);
    }
    fs.mkdirSync(path.dirname(link), { recursive: true });
    try {
        fs.symlinkSync("..", link, "dir");
    } catch (e) {
        // Another jest run may have made the same link a moment ago.
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw new Error(`jest globalSetup: cannot link ${link}`, { cause: e });
    }
}

export default function globalSetup(): void {
    linkPackage();
    buildLib();
}
