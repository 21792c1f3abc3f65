/**
 * The repository stands alone: nothing in it reaches for the reference folder that sat beside the
 * first checkouts (its peer recipes and contract notes). A clone with nothing beside it must run
 * its tests and its main job, so no script, test, source, CI step, example, doc or benchmark may
 * name that folder. Every relative reference to a folder of that name is flagged, even one that would resolve inside the
 * repository: no folder of ours takes that name, so a reader never has to work out which one is meant.
 */
import * as fs from "fs";
import * as path from "path";

const root = path.resolve(__dirname, "../..");
const scanned = ["scripts", "test", "src", "components", ".ci", "examples", "docs", "bench", "README.md", "package.json"];
const skippedDirs = new Set(["node_modules", "lib", ".test-results"]);

// Spelled with escapes so that this file, which is scanned too, does not contain what it looks for.
const relativeShared = /(?:\.\.\/)+shared(?![\w-])/g;
const sharedSubfolder = /shared\/(?:peers|contracts)\b/g;

function filesUnder(entry: string): string[] {
    const stat = fs.statSync(entry, { throwIfNoEntry: false });
    if (!stat) return [];
    if (stat.isFile()) return [entry];
    if (!stat.isDirectory()) return [];
    return fs
        .readdirSync(entry)
        .filter((name) => !skippedDirs.has(name))
        .flatMap((name) => filesUnder(path.join(entry, name)));
}

/** `file:line: text` for every line of `file` that refers to the folder outside the repository. */
function offences(file: string): string[] {
    const text = fs.readFileSync(file);
    if (text.includes(0)) return []; // binary
    const found: string[] = [];
    text.toString("utf8")
        .split("\n")
        .forEach((line, index) => {
            if (relativeShared.test(line) || sharedSubfolder.test(line))
                found.push(`${path.relative(root, file)}:${index + 1}: ${line.trim()}`);
            relativeShared.lastIndex = 0;
            sharedSubfolder.lastIndex = 0;
        });
    return found;
}

describe("the repository stands alone", () => {
    const files = scanned.flatMap((entry) => filesUnder(path.join(root, entry)));

    test("the scan covers the repository's scripts, tests, sources and docs", () => {
        const relative = files.map((f) => path.relative(root, f));
        expect(relative).toEqual(expect.arrayContaining(["package.json", "README.md", "scripts/test.sh", path.relative(root, __filename)]));
        expect(relative.some((f) => f.startsWith("src/"))).toBe(true);
    });

    test("the patterns catch what they are for, a relative shared folder inside the repository too", () => {
        const dir = fs.mkdtempSync(path.join(root, "test", "repository", ".probe-"));
        try {
            const probe = path.join(dir, "probe.sh");
            const up = path.relative(dir, path.dirname(root)).split(path.sep).join("/");
            fs.writeFileSync(probe, [`peer="$here/${up}/${"shared"}/x"`, `see ${"shared"}/${"peers"}/libvirt`, "ok line"].join("\n"));
            expect(offences(probe).map((o) => o.replace(/^[^:]*:/, ""))).toEqual([
                expect.stringMatching(/^1: /),
                expect.stringMatching(/^2: /),
            ]);
            fs.mkdirSync(path.join(dir, "shared"));
            fs.mkdirSync(path.join(dir, "sub"));
            const inside = path.join(dir, "sub", "inside.ts");
            fs.writeFileSync(inside, `import { x } from "../${"shared"}/tls";\n`);
            expect(offences(inside)).toEqual([expect.stringMatching(/:1: import/)]);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    test("no file refers to the folder beside the repository", () => {
        expect(files.flatMap(offences)).toEqual([]);
    });

    test("no folder of the repository is named shared", () => {
        const folders = new Set(files.map((f) => path.relative(root, path.dirname(f)).split(path.sep)).flat());
        expect([...folders].filter((name) => name === "shared")).toEqual([]);
    });
});
