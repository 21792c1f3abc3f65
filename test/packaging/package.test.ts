import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { compileSnippets } from "../docs/snippets";

/**
 * The packed tarball in an empty project (scripts/check-package.sh): the CLI installs and runs
 * without @pulumi/pulumi, the components without it fail with the install line, and with it the
 * root and every subpath load. Needs the npm registry (CI has it).
 */
const repo = path.join(__dirname, "..", "..");

test("the packed package: CLI alone without @pulumi/pulumi, the components with it", () => {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "graceful-vm-pack-"));
    try {
        const result = spawnSync("bash", [path.join(repo, "scripts", "check-package.sh"), work], { encoding: "utf8", timeout: 540_000 });
        const output = `${result.stdout}\n${result.stderr}`;
        expect(output).toMatch(/^graceful-vm: power a VM on or off/m);
        expect(output).toMatch(/^cli-only: \d+ kB$/m);
        expect(output).toMatch(/^root, \/power, \/provider-runtime load$/m);
        expect(output).toMatch(/^package check: ok$/m);
        const cliOnly = Number(/^cli-only: (\d+) kB$/m.exec(output)?.[1]);
        const withPulumi = Number(/^with-pulumi: (\d+) kB$/m.exec(output)?.[1]);
        // The point of the optional peer: the CLI alone is a small fraction of a Pulumi install.
        expect(cliOnly * 5).toBeLessThan(withPulumi);
        // The docs' examples against the installed copy, its own @pulumi/pulumi from the registry.
        const installed = path.join(work, "app", "node_modules");
        const dependencies = path.join(work, "deps");
        fs.mkdirSync(path.join(dependencies, "@types"), { recursive: true });
        fs.symlinkSync(path.join(installed, "@pulumi"), path.join(dependencies, "@pulumi"));
        // azure-native's and proxmoxve's types come from the dev install: the examples import them.
        fs.symlinkSync(path.join(repo, "node_modules", "@pulumi", "azure-native"), path.join(installed, "@pulumi", "azure-native"));
        fs.symlinkSync(path.join(repo, "node_modules", "@muhlba91"), path.join(dependencies, "@muhlba91"));
        fs.symlinkSync(path.join(repo, "node_modules", "@types", "node"), path.join(dependencies, "@types", "node"));
        for (const resolution of ["node", "node16"] as const) {
            expect(compileSnippets({ packageDir: path.join(installed, "pulumi-graceful-vm"), dependencies }, resolution)).toBe("");
        }
    } finally {
        fs.rmSync(work, { recursive: true, force: true });
    }
}, 600_000);
