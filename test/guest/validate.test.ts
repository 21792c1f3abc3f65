import { hookLimitMs, hookWorstCaseMs } from "../../src/guest/worstCase";
import { planGuest } from "../../src/guest/validate";
import { errorsOf } from "../helpers/inputErrors";

const exec = (command: unknown[]): Record<string, unknown> => ({ name: "h", exec: { command } });

describe("planGuest: rejected inputs name their field", () => {
    const cases: Array<[string, unknown, unknown, string, RegExp]> = [
        ["preStop not a list", { name: "x" }, undefined, "preStop", /list of hooks/],
        ["hook without a kind", [{ name: "h" }], undefined, "preStop[0]", /exactly one of exec, drain, httpGet; got none/],
        [
            "hook with two kinds",
            [{ name: "h", exec: { command: ["true"] }, httpGet: { url: "http://x" } }],
            undefined,
            "preStop[0]",
            /exec and httpGet/,
        ],
        ["name with a space", [{ name: "my hook", exec: { command: ["true"] } }], undefined, "preStop[0].name", /letters, digits/],
        ["name with a newline", [{ name: "a\nb", exec: { command: ["true"] } }], undefined, "preStop[0].name", /letters, digits/],
        ["name with a slash", [{ name: "../etc", exec: { command: ["true"] } }], undefined, "preStop[0].name", /letters, digits/],
        ["name with $", [{ name: "a$b", exec: { command: ["true"] } }], undefined, "preStop[0].name", /letters, digits/],
        ["name too long", [{ name: "a".repeat(64), exec: { command: ["true"] } }], undefined, "preStop[0].name", /63 characters/],
        ["duplicate names", [exec(["true"]), exec(["false"])], undefined, "preStop[1].name", /already the name of preStop\[0\]/],
        ["NUL in an argument", [exec(["printf", "a\u0000b"])], undefined, "preStop[0].exec.command[1]", /NUL/],
        ["lone surrogate", [exec(["printf", "a\uD800b"])], undefined, "preStop[0].exec.command[1]", /valid Unicode/],
        ["empty command", [exec([])], undefined, "preStop[0].exec.command", /non-empty list/],
        ["empty program", [exec([""])], undefined, "preStop[0].exec.command[0]", /name a program/],
        ["program that looks like an option", [exec(["-l", "x"])], undefined, "preStop[0].exec.command[0]", /not an option/],
        ["number argument", [exec(["sleep", 5])], undefined, "preStop[0].exec.command[1]", /must be a string/],
        [
            "command and script",
            [{ name: "h", exec: { command: ["true"], script: "true" } }],
            undefined,
            "preStop[0].exec",
            /exactly one of command/,
        ],
        ["NUL in a script", [{ name: "h", exec: { script: "echo \u0000" } }], undefined, "preStop[0].exec.script", /NUL/],
        ["bad timeout", [{ name: "h", exec: { command: ["true"] }, timeout: "soon" }], undefined, "preStop[0].timeout", /duration/],
        [
            "timeout on a drain",
            [{ name: "d", drain: { seconds: 5, createFile: "/run/d" }, timeout: "5s" }],
            undefined,
            "preStop[0].timeout",
            /not used by a drain/,
        ],
        ["drain without seconds", [{ name: "d", drain: { createFile: "/run/d" } }], undefined, "preStop[0].drain.seconds", /required/],
        [
            "drain marking nothing",
            [{ name: "d", drain: { seconds: 5 } }],
            undefined,
            "preStop[0].drain",
            /createFile, removeFile or request/,
        ],
        [
            "relative drain file",
            [{ name: "d", drain: { seconds: 5, createFile: "run/d" } }],
            undefined,
            "preStop[0].drain.createFile",
            /absolute path/,
        ],
        ["ftp URL", [{ name: "u", httpGet: { url: "ftp://lb/x" } }], undefined, "preStop[0].httpGet.url", /http or https/],
        [
            "URL with a newline",
            [{ name: "u", httpGet: { url: "http://lb/x\nHost: evil" } }],
            undefined,
            "preStop[0].httpGet.url",
            /white space or control/,
        ],
        ["not a URL", [{ name: "u", httpGet: { url: "lb/deregister" } }], undefined, "preStop[0].httpGet.url", /absolute http/],
        [
            "header injection",
            [{ name: "u", httpGet: { url: "http://lb/x", headers: { "X-A": "v\r\nX-B: w" } } }],
            undefined,
            "preStop[0].httpGet.headers.X-A",
            /line breaks/,
        ],
        [
            "bad header name",
            [{ name: "u", httpGet: { url: "http://lb/x", headers: { "X A": "v" } } }],
            undefined,
            "preStop[0].httpGet.headers",
            /HTTP token/,
        ],
        [
            "bad method",
            [{ name: "u", httpGet: { url: "http://lb/x", method: "TRACE" } }],
            undefined,
            "preStop[0].httpGet.method",
            /one of GET/,
        ],
        [
            "unknown hook key",
            [{ name: "u", httpGet: { url: "http://lb/x" }, retries: 3 }],
            undefined,
            "preStop[0].retries",
            /not a known setting/,
        ],
        ["service with %", undefined, { services: [{ name: "app%i" }] }, "lifecycle.services[0].name", /systemd service name/],
        ["service with $", undefined, { services: [{ name: "app$X" }] }, "lifecycle.services[0].name", /systemd service name/],
        [
            "service with a newline",
            undefined,
            { services: ["app\nExecStart=/bin/evil"] },
            "lifecycle.services[0].name",
            /systemd service name/,
        ],
        ["service with a backslash", undefined, { services: ["dev-x\\x2dy"] }, "lifecycle.services[0].name", /systemd service name/],
        ["service with a space", undefined, { services: ["my app"] }, "lifecycle.services[0].name", /systemd service name/],
        ["service template", undefined, { services: ["getty@"] }, "lifecycle.services[0].name", /not a template/],
        ["service listed twice", undefined, { services: ["app", "app.service"] }, "lifecycle.services[1].name", /listed twice/],
        [
            "KillMode process",
            undefined,
            { services: [{ name: "app", killMode: "process" }] },
            "lifecycle.services[0].killMode",
            /control-group, mixed/,
        ],
        [
            "bad TimeoutStopSec",
            undefined,
            { services: [{ name: "app", timeoutStopSec: "2 minutes" }] },
            "lifecycle.services[0].timeoutStopSec",
            /duration/,
        ],
        ["margin below 2s", undefined, { margin: "1s" }, "lifecycle.margin", /at least 2s/],
        ["shell script user-data", undefined, { userData: "#!/bin/sh\necho hi\n" }, "lifecycle.userData", /shell script/],
        ["MIME user-data", undefined, { userData: "Content-Type: multipart/mixed; boundary=x\n" }, "lifecycle.userData", /MIME multipart/],
        ["user-data not YAML", undefined, { userData: "#cloud-config\nruncmd: [a, b\n" }, "lifecycle.userData", /not valid YAML/],
        [
            "user-data runcmd not a list",
            undefined,
            { userData: "#cloud-config\nruncmd: echo hi\n" },
            "lifecycle.userData.runcmd",
            /must be a list/,
        ],
        ["installGuestAgent not boolean", undefined, { installGuestAgent: "yes" }, "lifecycle.installGuestAgent", /true or false/],
        ["unknown lifecycle key", undefined, { servics: [] }, "lifecycle.servics", /not a known setting/],
        [
            "on: empty",
            [{ name: "h", exec: { command: ["true"] }, on: [] }],
            undefined,
            "preStop[0].on",
            /non-empty list of poweroff, reboot/,
        ],
        ["on: not a list", [{ name: "h", exec: { command: ["true"] }, on: "reboot" }], undefined, "preStop[0].on", /non-empty list/],
        [
            "on: unknown kind",
            [{ name: "h", exec: { command: ["true"] }, on: ["halt"] }],
            undefined,
            "preStop[0].on[0]",
            /one of poweroff, reboot/,
        ],
        ["on: twice", [{ name: "h", exec: { command: ["true"] }, on: ["reboot", "reboot"] }], undefined, "preStop[0].on", /twice/],
    ];
    test.each(cases)("%s", (_title, preStop, lifecycle, field, reason) => {
        const errors = errorsOf(() => planGuest(preStop, lifecycle));
        const error = errors.find((e) => e.field === field);
        expect(error?.field).toBe(field);
        expect(error?.message).toMatch(reason);
    });

    test("every problem is reported at once", () => {
        const errors = errorsOf(() =>
            planGuest(
                [
                    { name: "bad name", exec: { command: ["true"] } },
                    { name: "u", httpGet: { url: "ftp://x" } },
                ],
                { margin: "1s", services: ["a b"] },
            ),
        );
        expect(errors.map((e) => e.field).sort()).toEqual([
            "lifecycle.margin",
            "lifecycle.services[0].name",
            "preStop[0].name",
            "preStop[1].httpGet.url",
        ]);
    });

    test("header values, which may be tokens, are never quoted back", () => {
        const token = "s3cr3t-token-value";
        const errors = errorsOf(() =>
            planGuest([{ name: "u", httpGet: { url: "http://lb/x", headers: { Authorization: `Bearer ${token}\n` } } }], undefined),
        );
        expect(errors[0].message).not.toContain(token);
    });
});

describe("planGuest: accepted inputs", () => {
    test("defaults are filled and durations parsed", () => {
        const plan = planGuest(
            [
                { name: "drain", drain: { seconds: "30s", createFile: "/run/app/draining" } },
                { name: "deregister", httpGet: { url: "https://lb.example/v1/deregister?vm=web-1", method: "POST" }, timeout: "5s" },
                { name: "flush", exec: { command: ["sync"] } },
            ],
            { services: ["app", { name: "worker@1.service", timeoutStopSec: "1m", killMode: "mixed" }] },
        );
        expect(plan.hooks.map((h) => [h.kind, h.name, hookLimitMs(h), hookWorstCaseMs(h), h.on])).toEqual([
            ["drain", "drain", 30_000, 30_000, ["poweroff", "reboot"]],
            ["httpGet", "deregister", 5_000, 6_000, ["poweroff", "reboot"]],
            ["exec", "flush", 10_000, 11_000, ["poweroff", "reboot"]],
        ]);
        expect(plan.services).toEqual([
            { unit: "app.service", timeoutStopMs: 30_000, killMode: "control-group" },
            { unit: "worker@1.service", timeoutStopMs: 60_000, killMode: "mixed" },
        ]);
        expect(plan.marginMs).toBe(10_000);
        expect(plan.installGuestAgent).toBe(true);
        expect(plan.installAcpid).toBe(false);
    });

    test("a drain's worst case is its wait plus its request's timeout and kill grace", () => {
        const plan = planGuest(
            [{ name: "d", drain: { seconds: 20, request: { url: "http://127.0.0.1:8080/drain", timeout: "3s" } } }],
            undefined,
        );
        expect([hookLimitMs(plan.hooks[0]), hookWorstCaseMs(plan.hooks[0])]).toEqual([23_000, 24_000]);
    });

    test("on: the shutdowns a hook runs on, in a fixed order", () => {
        const plan = planGuest(
            [
                { name: "a", exec: { command: ["true"] }, on: ["reboot", "poweroff"] },
                { name: "b", exec: { command: ["true"] }, on: ["poweroff"] },
                { name: "c", drain: { seconds: 1, createFile: "/run/d" }, on: ["reboot"] },
            ],
            undefined,
        );
        expect(plan.hooks.map((h) => h.on)).toEqual([["poweroff", "reboot"], ["poweroff"], ["reboot"]]);
    });

    test("URLs are sent in their normalized form", () => {
        const plan = planGuest([{ name: "u", httpGet: { url: "http://LB.example/é?q=a b'".replace(" ", "%20") } }], undefined);
        const hook = plan.hooks[0];
        expect(hook.kind === "httpGet" && hook.request.url).toBe("http://lb.example/%C3%A9?q=a%20b%27");
    });

    test("any text is accepted in command arguments and scripts", () => {
        const weird = ["'", '"', "$HOME", "%n", "\\", "\n", "`id`", "${x}", "é ✓ 😀", "--", "-e", "a=b", "*", "~"];
        const plan = planGuest(
            [
                { name: "w", exec: { command: ["printf", ...weird] } },
                { name: "s", exec: { script: weird.join("\n") } },
            ],
            undefined,
        );
        expect(plan.hooks).toHaveLength(2);
    });
});
