import * as fs from "fs";
import * as path from "path";
import { compileSnippets, docFiles, snippetsOf } from "./snippets";

/**
 * Every TypeScript block in README.md and docs/ compiles in strict mode against the built
 * package (lib/, through package.json's exports and typesVersions), under both module
 * resolutions users have: `node` (older Pulumi templates) and `node16`. The packaging test does
 * the same against the packed tarball installed in an empty project.
 */
const repo = path.join(__dirname, "..", "..");

test("the docs have TypeScript examples", () => {
    expect(docFiles().flatMap(snippetsOf).length).toBeGreaterThanOrEqual(10);
});

test.each(["node", "node16"] as const)("every TypeScript example compiles with moduleResolution %s, strict", (resolution) => {
    if (!fs.existsSync(path.join(repo, "lib", "index.d.ts"))) throw new Error("lib/ is not built: run `npm run build` (npm test does)");
    expect(compileSnippets({ packageDir: repo, dependencies: path.join(repo, "node_modules") }, resolution)).toBe("");
});
