import { spawnSync } from "child_process";
import * as fc from "fast-check";
import * as fs from "fs";
import * as path from "path";
import { guestPaths, hookFileName, renderExecCommand } from "../../src/guest/hooks";
import { renderGuestUserData } from "../../src/guest/render";
import { shellCommand } from "../../src/guest/shell";
import { PreStopHook } from "../../src/guest/types";
import { planGuest } from "../../src/guest/validate";
import { InputError, InputErrors } from "../../src/power/errors";
import { describeWithPeer } from "../helpers/peers";
import { CloudConfig, fileAt, parseUserData, parseWithPyYaml, runValidator, tempDir } from "./helpers";

/**
 * Injection safety: whatever users put in commands, paths, URLs, headers and bodies, the
 * rendered user-data parses back (with the JS parser and with PyYAML, cloud-init's) to exactly
 * those values, and the hook scripts run exactly the given argv under /bin/sh.
 */

/** Characters that mean something to a shell, systemd, YAML, JSON or a terminal. */
const specials = [
    "'",
    '"',
    "$",
    "%",
    "\\",
    "\n",
    "\r",
    "\t",
    "`",
    "#",
    ":",
    "-",
    " ",
    "{",
    "}",
    "[",
    "]",
    "*",
    "?",
    "&",
    "!",
    "|",
    ">",
    "<",
    ";",
    "(",
    ")",
    "~",
    "=",
    ",",
    "%%",
    "%n",
    "%i",
    "$(id)",
    "${HOME}",
    "'\\''",
    "\\n",
    "yes",
    "no",
    "on",
    "0644",
    "1:20",
    "null",
    "~",
    "---",
    "...",
    "- ",
    ": ",
    " #",
    "é",
    "✓",
    "😀",
    "\u00a0",
    "\u0085",
    "\u2028",
    "\u2029",
    "\ufeff",
    "\ufffe",
    "\u0001",
    "\u001b",
    "\u007f",
    "\u009f",
    "\u200b",
];
const specialString = fc.string({ unit: fc.constantFrom(...specials), maxLength: 12 }).map((parts) => parts);
const anyText = fc
    .oneof(
        specialString,
        fc.string({ unit: "grapheme", maxLength: 30 }),
        fc.string({ unit: "binary", maxLength: 30 }),
        fc.string({ maxLength: 30 }),
    )
    .filter((s) => !s.includes("\u0000") && !/[\uD800-\uDFFF]/.test(s.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, "")));
/** Header values cannot hold line breaks (they would inject headers): generated without them. */
const headerText = anyText.map((s) => s.replace(/[\r\n]/g, ""));

interface Case {
    readonly argument: string;
    readonly body: string;
    readonly header: string;
    readonly file: string;
}

const caseArbitrary: fc.Arbitrary<Case> = fc.record({
    argument: anyText,
    body: anyText,
    header: headerText,
    file: anyText.map((s) => `/run/drain/${s.replace(/\//g, "_") || "x"}`),
});

function hooksFor(c: Case): PreStopHook[] {
    return [
        { name: "print", exec: { command: ["printf", "%s\\n", c.argument] }, timeout: "5s" },
        { name: "drain", drain: { seconds: 1, createFile: c.file } },
        {
            name: "call",
            httpGet: { url: "http://127.0.0.1:9/x", method: "POST", headers: { "X-Value": c.header }, body: c.body },
            timeout: "3s",
        },
    ];
}

function render(c: Case): string {
    return renderGuestUserData(
        hooksFor(c),
        { services: ["app"], installGuestAgent: false },
        { platform: "custom", gracefulTimeoutMs: 120_000 },
    ).userData;
}

function printHookPath(): string {
    return `${guestPaths.hooksDir}/${hookFileName({ kind: "exec", name: "print", timeoutMs: 0, on: ["poweroff", "reboot"] }, 0)}`;
}

function checkParsed(config: CloudConfig, c: Case): void {
    expect(fileAt(config, printHookPath()).content).toBe(renderExecCommand("print", ["printf", "%s\\n", c.argument]));
    const spec = JSON.parse(fileAt(config, `${guestPaths.hooksDir}/03-call.json`).content) as {
        body: string;
        headers: Array<[string, string]>;
    };
    expect(spec.body).toBe(c.body);
    expect(spec.headers).toEqual([["X-Value", c.header]]);
    expect(fileAt(config, `${guestPaths.hooksDir}/02-drain`).content).toContain(shellCommand(["touch", "--", c.file]));
}

describe("rendered user-data with generated adversarial strings", () => {
    const samples: Array<{ c: Case; userData: string }> = [];

    test("(a) the JS YAML parser reads back exactly the given values", () => {
        fc.assert(
            fc.property(caseArbitrary, (c) => {
                const userData = render(c);
                samples.push({ c, userData });
                checkParsed(parseUserData(userData), c);
            }),
            { numRuns: 300 },
        );
    });

    test("(a) PyYAML, cloud-init's parser, reads back exactly the same values", () => {
        const parsed = parseWithPyYaml(samples.map((s) => s.userData));
        if (parsed === undefined) {
            // PyYAML comes with the validators peer; on CI it is always there.
            expect(process.env.CI).not.toBe("true");
            return;
        }
        expect(parsed).toHaveLength(samples.length);
        samples.forEach((sample, i) => checkParsed(parsed[i] as CloudConfig, sample.c));
    });

    test("(b) the rendered exec hook runs exactly its argv under /bin/sh, dash, bash and busybox sh", () => {
        const dir = tempDir("argv");
        const shells = ["/bin/sh", "/usr/bin/dash", "/usr/bin/bash", "/usr/bin/busybox"].filter((s) => fs.existsSync(s));
        expect(shells.length).toBeGreaterThan(0);
        const parsed = parseWithPyYaml(samples.map((s) => s.userData));
        // A shell per sample and shell is slow on a busy machine: the first 150 samples are plenty.
        samples.slice(0, 150).forEach((sample, i) => {
            // Take the script from the parsed user-data, as cloud-init writes it.
            const config = (parsed?.[i] as CloudConfig | undefined) ?? parseUserData(sample.userData);
            const script = path.join(dir, `hook-${i}`);
            fs.writeFileSync(script, fileAt(config, printHookPath()).content, { mode: 0o700 });
            for (const shell of shells) {
                const args = shell.endsWith("busybox") ? ["sh", script] : [script];
                const result = spawnSync(shell, args, { encoding: "utf8", env: { PATH: "/usr/bin:/bin", HOME: "/nonexistent" } });
                expect({ shell, status: result.status, stdout: result.stdout }).toEqual({
                    shell,
                    status: 0,
                    stdout: `${sample.c.argument}\n`,
                });
            }
        });
    });
});

describe("generated names and service names are accepted verbatim or rejected naming the field", () => {
    test("hook names", () => {
        fc.assert(
            fc.property(anyText, (name) => {
                try {
                    const plan = planGuest([{ name, exec: { command: ["true"] } }], undefined);
                    expect(plan.hooks[0].name).toBe(name);
                    expect(name).toMatch(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/);
                } catch (e) {
                    expect(e).toBeInstanceOf(InputError);
                    expect((e as InputError).field).toBe("preStop[0].name");
                }
            }),
            { numRuns: 500 },
        );
    });

    test("service names", () => {
        const serviceName = fc.oneof(
            anyText,
            fc.string({
                unit: fc.constantFrom("a", "Z", "0", ":", "_", ".", "@", "-", "%", "$", "\\", "\n", " ", "/"),
                minLength: 1,
                maxLength: 12,
            }),
        );
        fc.assert(
            fc.property(serviceName, (name) => {
                try {
                    const plan = planGuest(undefined, { services: [name] });
                    expect(plan.services[0].unit).toMatch(/^[A-Za-z0-9:_.@-]+\.service$/);
                    expect([name, `${name}.service`]).toContain(plan.services[0].unit);
                } catch (e) {
                    const errors = e instanceof InputErrors ? e.errors : [e];
                    for (const error of errors) {
                        expect(error).toBeInstanceOf(InputError);
                        expect((error as InputError).field).toBe("lifecycle.services[0].name");
                    }
                }
            }),
            { numRuns: 500 },
        );
    });
});

describeWithPeer("(c) the validators pass rendered user-data with generated strings", "validators", ["GUEST_VALIDATOR"], (env) => {
    test("cloud-init schema, systemd-analyze verify and shellcheck on a sample", () => {
        const dir = tempDir("validate");
        const cases = fc.sample(caseArbitrary, { numRuns: 12, seed: 4242 });
        const services = fc.sample(
            fc
                .string({ unit: fc.constantFrom("a", "Z", "0", ":", "_", ".", "-"), minLength: 1, maxLength: 10 })
                .filter((s) => /^[A-Za-z0-9]/.test(s) && !/\.$|\.\./.test(s)),
            { numRuns: 12, seed: 7 },
        );
        const files = cases.map((c, i) => {
            const file = path.join(dir, `generated-${i}.yaml`);
            const userData = renderGuestUserData(
                hooksFor(c),
                { services: [services[i], "app@1"] },
                { platform: "libvirt", gracefulTimeoutMs: 300_000 },
            ).userData;
            fs.writeFileSync(file, userData);
            return file;
        });
        const result = runValidator(env.GUEST_VALIDATOR, files);
        expect(result.output).not.toMatch(/^FAIL/m);
        expect(result.ok).toBe(true);
        // Per file: the schema, the preStop unit, the drop-ins of both services (verified on a
        // stand-in unit), 6 scripts (3 hooks, runner, arm, boot script; no runcmd: nothing of
        // ours is in it); the HTTP hooks add json and python3 checks, counted in the total.
        const passedPerFile = (check: RegExp): number[] =>
            files.map((file) => result.output.split("\n").filter((line) => line.startsWith(`ok   - ${file}: `) && check.test(line)).length);
        expect(passedPerFile(/: cloud-init schema$/)).toEqual(files.map(() => 1));
        expect(passedPerFile(/: systemd-analyze verify \/etc\/systemd\/system\/graceful-vm-prestop\.service$/)).toEqual(files.map(() => 1));
        expect(passedPerFile(/: systemd-analyze verify \/etc\/systemd\/system\/[^/]+\.service\.d\/50-graceful-vm\.conf$/)).toEqual(
            files.map(() => 2),
        );
        expect(passedPerFile(/: shellcheck /)).toEqual(files.map(() => 6));
        expect(result.passed).toBe(passedPerFile(/./).reduce((a, b) => a + b, 0));
    }, 120_000);
});
