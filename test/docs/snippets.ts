import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

/**
 * The TypeScript code blocks of README.md and docs/*.md, ready to compile as a user would write
 * them. A block tagged ```ts compiles as it is (a header of imports is added when it has none);
 * ```ts args holds properties of GracefulVm's arguments and is wrapped in an object of that
 * type; ```ts hooks holds preStop hooks and is wrapped in an array of them.
 */
export interface Snippet {
    readonly file: string;
    readonly line: number;
    readonly kind: "program" | "args" | "hooks";
    readonly source: string;
}

const repo = path.join(__dirname, "..", "..");

export function docFiles(): string[] {
    const docs = fs
        .readdirSync(path.join(repo, "docs"))
        .filter((f) => f.endsWith(".md"))
        .map((f) => path.join("docs", f));
    return ["README.md", ...docs];
}

export function snippetsOf(file: string): Snippet[] {
    const lines = fs.readFileSync(path.join(repo, file), "utf8").split("\n");
    const found: Snippet[] = [];
    for (let i = 0; i < lines.length; i++) {
        const open = /^```(ts|typescript)(?:\s+(\w+))?\s*$/.exec(lines[i]);
        if (!open) continue;
        const start = i;
        const body: string[] = [];
        for (i++; i < lines.length && !lines[i].startsWith("```"); i++) body.push(lines[i]);
        const tag = open[2] ?? "program";
        if (tag !== "program" && tag !== "args" && tag !== "hooks") throw new Error(`${file}:${start + 1}: unknown snippet tag ${tag}`);
        found.push({ file, line: start + 1, kind: tag, source: body.join("\n") });
    }
    return found;
}

/** Names the docs use without defining them: what a user's program would have around the snippet. */
export const ambientDeclarations = `
import type * as pulumi from "@pulumi/pulumi";
import type { VirtualMachineArgs } from "@pulumi/azure-native/compute";
declare global {
    const config: pulumi.Config;
    const vmArgs: VirtualMachineArgs;
    const group: { readonly name: pulumi.Output<string> };
    const tenantId: string;
    const clientId: string;
    const endpoint: string;
    const apiToken: pulumi.Output<string>;
    const fingerprint: string;
    const url: string;
    const token: string;
    const lbToken: pulumi.Output<string>;
    /** the VM's own resource, e.g. a \`@pulumi/libvirt\` Domain */
    const domain: pulumi.CustomResource & { readonly name: pulumi.Output<string> };
}
export {};
`;

const header = [
    `import * as pulumi from "@pulumi/pulumi";`,
    `import * as fs from "fs";`,
    `import * as azure from "@pulumi/azure-native";`,
    `import { GracefulVm, GracefulVmArgs, PreStopHook, VmPower, proxmoxTargetFromVm, vsphereTargetFromVm, libvirtTargetFromDomain } from "pulumi-graceful-vm";`,
    `import { GracefulAzureVm, azureConnectionFromAzureNative } from "pulumi-graceful-vm/azure";`,
].join("\n");

/** The file a user would have: the snippet itself, or wrapped as its tag says. */
export function asModule(snippet: Snippet): string {
    const uses = `\nexport const __uses = [${["pulumi", "fs", "azure", "GracefulVm", "VmPower", "proxmoxTargetFromVm", "vsphereTargetFromVm", "libvirtTargetFromDomain", "GracefulAzureVm", "azureConnectionFromAzureNative"].join(", ")}];\n`;
    switch (snippet.kind) {
        case "args":
            return `${header}\nexport const args: Partial<GracefulVmArgs> = {\n${snippet.source}\n};${uses}`;
        case "hooks":
            return `${header}\nexport const hooks: pulumi.Input<PreStopHook>[] = [\n${snippet.source}\n];${uses}`;
        default:
            return /^import /m.test(snippet.source) ? `${snippet.source}\nexport {};\n` : `${header}\n${snippet.source}${uses}`;
    }
}

/** Where the compiled examples find their imports. */
export interface SnippetProject {
    /** The package as a user has it: this checkout (with lib/ built) or an installed tarball. */
    readonly packageDir: string;
    /** A node_modules with @pulumi/pulumi, @pulumi/azure-native, @muhlba91/pulumi-proxmoxve, @types/node. */
    readonly dependencies: string;
}

/**
 * Compiles every example, strict, with one module resolution; returns tsc's errors pointing at
 * the doc lines ("" when all compile).
 */
export function compileSnippets(where: SnippetProject, moduleResolution: "node" | "node16"): string {
    const snippets = docFiles().flatMap(snippetsOf);
    const project = fs.mkdtempSync(path.join(os.tmpdir(), "graceful-vm-snippets-"));
    try {
        const modules = path.join(project, "node_modules");
        fs.mkdirSync(path.join(modules, "@types"), { recursive: true });
        fs.symlinkSync(where.packageDir, path.join(modules, "pulumi-graceful-vm"));
        for (const scope of ["@pulumi", "@muhlba91"]) fs.symlinkSync(path.join(where.dependencies, scope), path.join(modules, scope));
        fs.symlinkSync(path.join(where.dependencies, "@types", "node"), path.join(modules, "@types", "node"));
        fs.writeFileSync(path.join(project, "ambient.d.ts"), ambientDeclarations);
        snippets.forEach((snippet, i) => fs.writeFileSync(path.join(project, `snippet${i}.ts`), asModule(snippet)));
        const options = {
            strict: true,
            noEmit: true,
            target: "ES2022",
            module: moduleResolution === "node" ? "commonjs" : "node16",
            moduleResolution,
            esModuleInterop: true,
            skipLibCheck: true,
            // Symlinked packages are resolved where they are linked, as npm installs them.
            preserveSymlinks: true,
            types: ["node"],
        };
        fs.writeFileSync(path.join(project, "tsconfig.json"), JSON.stringify({ compilerOptions: options, include: ["*.ts"] }));
        try {
            execFileSync(process.execPath, [path.join(repo, "node_modules", "typescript", "bin", "tsc"), "-p", project], {
                encoding: "utf8",
                stdio: "pipe",
            });
            return "";
        } catch (e) {
            const out = String((e as { stdout?: string }).stdout ?? e);
            return out.replace(/^.*snippet(\d+)\.ts\((\d+),(\d+)\)/gm, (_m, i: string, line: string) => {
                const s = snippets[Number(i)];
                return `${s.file}:${s.line} (block line ${line})`;
            });
        }
    } finally {
        fs.rmSync(project, { recursive: true, force: true });
    }
}
