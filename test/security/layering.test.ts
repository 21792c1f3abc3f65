import { execFile } from "child_process";
import * as path from "path";

/**
 * The lint rule that keeps the layers apart, tried on offending text at real paths. ESLint runs
 * in a child (its config is ESM, which jest cannot load), with the repository's config and the
 * type-aware rules off so one process lints every case in about a second.
 */
const root = path.join(__dirname, "..", "..");

const cases: Array<[string, string, RegExp | undefined]> = [
    ["src/power/clock.ts", 'import { a } from "../drivers/platform";\nexport const x = a;\n', /imports nothing of ours/],
    ["src/power/clock.ts", 'import * as p from "@pulumi/pulumi";\nexport const x = p;\n', /has no Pulumi/],
    ["src/drivers/libvirt/spec.ts", 'import { a } from "../../providers/provider";\nexport const x = a;\n', /never import/],
    ["src/drivers/azure/http.ts", 'import { a } from "../../../components/gracefulVm";\nexport const x = a;\n', /never import/],
    ["src/drivers/vsphere/soap.ts", 'import { a } from "../../cli/run";\nexport const x = a;\n', /never import/],
    ["src/drivers/libvirt/spec.ts", 'import { a } from "../../power/errors";\nexport const x = a;\n', undefined],
    ["src/power/transition.ts", 'import { a } from "./errors";\nexport const x = a;\n', undefined],
];

const script = `
import { ESLint } from "eslint";
const eslint = new ESLint({
    cwd: ${JSON.stringify(root)},
    overrideConfig: {
        languageOptions: { parserOptions: { project: null, projectService: false } },
        rules: {
            "@pulumi/no-output-in-template-literal": "off",
            "@pulumi/no-output-instance-in-template-literal": "off",
            "@typescript-eslint/no-floating-promises": "off",
        },
    },
});
const out = [];
for (const [filePath, code] of ${JSON.stringify(cases.map(([f, c]) => [f, c]))}) {
    const [result] = await eslint.lintText(code, { filePath });
    out.push(result.messages.filter((m) => m.ruleId === "no-restricted-imports").map((m) => m.message));
}
console.log(JSON.stringify(out));
`;

function lintAll(): Promise<string[][]> {
    return new Promise((resolve, reject) =>
        execFile(process.execPath, ["--input-type=module", "-e", script], { cwd: root }, (error, stdout, stderr) =>
            error ? reject(new Error(`eslint failed: ${stderr.slice(0, 500)}`)) : resolve(JSON.parse(stdout) as string[][]),
        ),
    );
}

describe("layering lint rule (src/power imports nothing of ours; drivers never import providers, components or the CLI)", () => {
    test("each crossing is an error, each allowed import is not", async () => {
        const results = await lintAll();
        cases.forEach(([file, code, message], i) => {
            if (message) expect({ file, code, messages: results[i] }).toEqual({ file, code, messages: [expect.stringMatching(message)] });
            else expect({ file, code, messages: results[i] }).toEqual({ file, code, messages: [] });
        });
    });
});
