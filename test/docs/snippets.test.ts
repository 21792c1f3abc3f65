import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Snippet, ambientDeclarations, asModule, docFiles, snippetsOf } from "./snippets";

/**
 * Every TypeScript block in README.md and docs/ compiles in strict mode against the built
 * package (lib/, through package.json's exports and typesVersions), under both module
 * resolutions users have: `node` (older Pulumi templates) and `node16`.
 */
const repo = path.join(__dirname, "..", "..");
const tsc = path.join(repo, "node_modules", "typescript", "bin", "tsc");
const snippets: Snippet[] = docFiles().flatMap(snippetsOf);
let project: string;

beforeAll(() => {
    if (!fs.existsSync(path.join(repo, "lib", "index.d.ts"))) throw new Error("lib/ is not built: run `npm run build` (npm test does)");
    project = fs.mkdtempSync(path.join(os.tmpdir(), "graceful-vm-snippets-"));
    const modules = path.join(project, "node_modules");
    fs.mkdirSync(path.join(modules, "@types"), { recursive: true });
    fs.symlinkSync(repo, path.join(modules, "pulumi-graceful-vm"));
    fs.symlinkSync(path.join(repo, "node_modules", "@pulumi"), path.join(modules, "@pulumi"));
    fs.symlinkSync(path.join(repo, "node_modules", "@muhlba91"), path.join(modules, "@muhlba91"));
    fs.symlinkSync(path.join(repo, "node_modules", "@types", "node"), path.join(modules, "@types", "node"));
    fs.writeFileSync(path.join(project, "ambient.d.ts"), ambientDeclarations);
    snippets.forEach((snippet, i) => fs.writeFileSync(path.join(project, `snippet${i}.ts`), asModule(snippet)));
});
afterAll(() => fs.rmSync(project, { recursive: true, force: true }));

function compile(moduleResolution: "node" | "node16"): string {
    const options = {
        strict: true,
        noEmit: true,
        target: "ES2022",
        module: moduleResolution === "node" ? "commonjs" : "node16",
        moduleResolution,
        esModuleInterop: true,
        skipLibCheck: true,
        types: ["node"],
        ...(moduleResolution === "node" ? { ignoreDeprecations: "5.0" } : {}),
    };
    fs.writeFileSync(path.join(project, "tsconfig.json"), JSON.stringify({ compilerOptions: options, include: ["*.ts"] }));
    try {
        execFileSync(process.execPath, [tsc, "-p", project], { encoding: "utf8", stdio: "pipe" });
        return "";
    } catch (e) {
        const out = String((e as { stdout?: string }).stdout ?? e);
        // Point at the doc line, not the temporary file.
        return out.replace(/snippet(\d+)\.ts\((\d+),(\d+)\)/g, (_m, i: string, line: string) => {
            const s = snippets[Number(i)];
            return `${s.file}:${s.line} (block line ${line})`;
        });
    }
}

test("the docs have TypeScript examples", () => {
    expect(snippets.length).toBeGreaterThanOrEqual(10);
});

test.each(["node", "node16"] as const)("every TypeScript example compiles with moduleResolution %s, strict", (resolution) => {
    expect(compile(resolution)).toBe("");
});
