import { GuestPlan, PlannedDrainHook, PlannedHook, PlannedRequest } from "./plan";
import { shellCommand, shellQuote } from "./shell";
import { renderUnit, unitTimeSpan } from "./systemd";

/** Where the rendered files live in the guest. */
export const guestPaths = {
    dir: "/usr/local/lib/graceful-vm/prestop",
    runner: "/usr/local/lib/graceful-vm/prestop/run-hooks",
    httpRequest: "/usr/local/lib/graceful-vm/prestop/http-request",
    hooksDir: "/usr/local/lib/graceful-vm/prestop/hooks",
    unitName: "graceful-vm-prestop.service",
    unit: "/etc/systemd/system/graceful-vm-prestop.service",
    dropInName: "50-graceful-vm.conf",
} as const;

/** A file for cloud-init's `write_files`. */
export interface GuestFile {
    readonly path: string;
    readonly permissions: string;
    readonly content: string;
}

/** How long `timeout(1)` waits between its SIGTERM and its SIGKILL to a hook. */
const hookKillGraceSeconds = 1;
/** Added to the preStop unit's own stop timeout so the per-hook timeouts fire first; comes out of the margin. */
export const preStopUnitGraceMs = 1_000;

/** Every file the hooks and service drop-ins need, in the order cloud-init should write them. */
export function renderGuestFiles(plan: GuestPlan): GuestFile[] {
    const files: GuestFile[] = [];
    if (plan.hooks.length > 0) {
        plan.hooks.forEach((hook, index) => files.push(...renderHook(hook, hookFileName(hook, index))));
        if (plan.hooks.some((hook) => hook.kind === "httpGet" || (hook.kind === "drain" && hook.request))) {
            files.push({ path: guestPaths.httpRequest, permissions: "0755", content: httpRequestProgram });
        }
        files.push({ path: guestPaths.runner, permissions: "0700", content: renderRunner(plan.hooks) });
        files.push({ path: guestPaths.unit, permissions: "0644", content: renderPreStopUnit(plan) });
    }
    for (const service of plan.services) {
        files.push({
            path: `/etc/systemd/system/${service.unit}.d/${guestPaths.dropInName}`,
            permissions: "0644",
            content: renderUnit(
                ["graceful-vm: how long this service gets to stop at shutdown, counted in the host's graceful-shutdown budget."],
                [
                    {
                        name: "Service",
                        entries: [
                            ["TimeoutStopSec", unitTimeSpan(service.timeoutStopMs)],
                            ["KillMode", service.killMode],
                        ],
                    },
                ],
            ),
        });
    }
    return files;
}

export function hookFileName(hook: PlannedHook, index: number): string {
    return `${String(index + 1).padStart(2, "0")}-${hook.name}`;
}

/**
 * The unit whose `ExecStop=` runs the hooks. Being ordered `After=` the application services and
 * the network, it is stopped before them at shutdown (stop order is the reverse of start
 * order), so the hooks finish before the services get SIGTERM and while the network is up.
 */
export function renderPreStopUnit(plan: GuestPlan): string {
    const after = ["network.target", "network-online.target", ...plan.services.map((s) => s.unit)];
    const hooksMs = plan.hooks.reduce((sum, hook) => sum + hook.budgetMs, 0);
    return renderUnit(
        ["graceful-vm: runs the preStop hooks when the guest shuts down, before the services listed in After= are stopped."],
        [
            {
                name: "Unit",
                entries: [
                    ["Description", "graceful-vm preStop hooks"],
                    ["After", after.join(" ")],
                ],
            },
            {
                name: "Service",
                entries: [
                    ["Type", "oneshot"],
                    ["RemainAfterExit", "yes"],
                    ["ExecStart", "/bin/true"],
                    ["ExecStop", guestPaths.runner],
                    ["TimeoutStopSec", unitTimeSpan(hooksMs + preStopUnitGraceMs)],
                ],
            },
            { name: "Install", entries: [["WantedBy", "multi-user.target"]] },
        ],
    );
}

function renderRunner(hooks: readonly PlannedHook[]): string {
    const lines = [
        "#!/bin/sh",
        "# graceful-vm: ExecStop= of graceful-vm-prestop.service. Runs the preStop hooks in order,",
        "# each bounded by its timeout; a failed hook is logged and the shutdown goes on.",
        `hooks=${shellQuote(guestPaths.hooksDir)}`,
        "",
        "run_hook() {",
        "    hook=$1",
        "    seconds=$2",
        '    echo "graceful-vm prestop: hook $hook start"',
        '    if [ "$seconds" = 0 ]; then',
        '        "$hooks/$hook"',
        "    else",
        `        timeout --kill-after=${hookKillGraceSeconds} "$seconds" "$hooks/$hook"`,
        "    fi",
        "    rc=$?",
        "    case $rc in",
        '    0) echo "graceful-vm prestop: hook $hook done" ;;',
        '    124 | 137) echo "graceful-vm prestop: hook $hook timed out after ${seconds}s" ;;',
        '    *) echo "graceful-vm prestop: hook $hook failed with exit code $rc" ;;',
        "    esac",
        "}",
        "",
        `echo "graceful-vm prestop: begin (${hooks.length} hook${hooks.length === 1 ? "" : "s"})"`,
    ];
    hooks.forEach((hook, index) => {
        // A drain's own steps are bounded (its request has a timeout, then it sleeps): a
        // timeout racing its sleep would only report a finished drain as timed out.
        const seconds = hook.kind === "drain" ? "0" : seconds3(hook.budgetMs);
        lines.push(`run_hook ${shellQuote(hookFileName(hook, index))} ${seconds}`);
    });
    lines.push('echo "graceful-vm prestop: done"', "");
    return lines.join("\n");
}

function renderHook(hook: PlannedHook, fileName: string): GuestFile[] {
    const path = `${guestPaths.hooksDir}/${fileName}`;
    switch (hook.kind) {
        case "exec":
            if (hook.script !== undefined) {
                const content = hook.script.startsWith("#!") ? hook.script : `#!/bin/sh\n${hook.script}`;
                return [{ path, permissions: "0700", content: content.endsWith("\n") ? content : `${content}\n` }];
            }
            return [{ path, permissions: "0700", content: renderExecCommand(hook.name, hook.command ?? []) }];
        case "httpGet":
            return [
                { path: `${path}.json`, permissions: "0600", content: requestSpec(hook.request) },
                {
                    path,
                    permissions: "0700",
                    content: [
                        "#!/bin/sh",
                        `# graceful-vm preStop hook ${hook.name}: one HTTP request, described in ${fileName}.json.`,
                        `exec python3 ${shellQuote(guestPaths.httpRequest)} ${shellQuote(`${path}.json`)}`,
                        "",
                    ].join("\n"),
                },
            ];
        case "drain":
            return renderDrain(hook, path, fileName);
    }
}

/**
 * An exec hook's command as a `/bin/sh` script that runs exactly these arguments. Every
 * argument is single-quoted; shellcheck's notes about `$` or a trailing backslash inside single
 * quotes are about intent, and here the literal text is the intent.
 */
export function renderExecCommand(name: string, command: readonly string[]): string {
    return [
        "#!/bin/sh",
        `# graceful-vm preStop hook ${name}: runs exactly these arguments.`,
        "# shellcheck disable=SC1003,SC2016",
        `exec ${shellCommand(command)}`,
        "",
    ].join("\n");
}

function renderDrain(hook: PlannedDrainHook, path: string, fileName: string): GuestFile[] {
    const files: GuestFile[] = [];
    const lines = [
        "#!/bin/sh",
        `# graceful-vm preStop hook ${hook.name}: mark this VM as draining, then wait for the load balancer.`,
        "# Paths are single-quoted literals: shellcheck's notes about `$` or `\\` inside them do not apply.",
        "# shellcheck disable=SC1003,SC2016",
    ];
    if (hook.createFile !== undefined) {
        const file = shellQuote(hook.createFile);
        lines.push(
            `mkdir -p -- "$(dirname -- ${file})" && touch -- ${file} || echo "graceful-vm prestop: could not create the drain file" >&2`,
        );
    }
    if (hook.removeFile !== undefined) {
        lines.push(`rm -f -- ${shellQuote(hook.removeFile)} || echo "graceful-vm prestop: could not remove the drain file" >&2`);
    }
    if (hook.request !== undefined) {
        files.push({ path: `${path}.json`, permissions: "0600", content: requestSpec(hook.request) });
        lines.push(
            `timeout --kill-after=${hookKillGraceSeconds} ${seconds3(hook.request.timeoutMs)} python3 ${shellQuote(guestPaths.httpRequest)} ${shellQuote(`${path}.json`)} || echo "graceful-vm prestop: the drain request of ${fileName} failed" >&2`,
        );
    }
    lines.push(`echo "graceful-vm prestop: draining for ${seconds3(hook.drainMs)}s"`, `sleep ${seconds3(hook.drainMs)}`, "");
    files.push({ path, permissions: "0700", content: lines.join("\n") });
    return files;
}

/** Kept in a root-only file, not on a command line (`ps` shows those), as headers may be tokens. */
function requestSpec(request: PlannedRequest): string {
    return `${JSON.stringify(
        {
            method: request.method,
            url: request.url,
            headers: request.headers,
            body: request.body ?? null,
            insecureSkipVerify: request.insecureSkipVerify,
            timeoutSeconds: request.timeoutMs / 1000,
        },
        null,
        2,
    )}\n`;
}

/** Seconds for `sleep`/`timeout`, exact to the millisecond: `5`, `1.5`. */
function seconds3(ms: number): string {
    return String(Math.round(ms) / 1000);
}

/** Sends one request from a JSON spec; exit 0 on a 2xx answer. The URL is never printed: it may hold a token. */
const httpRequestProgram = `#!/usr/bin/python3
"""graceful-vm preStop: sends the HTTP request described by a JSON file; exit 0 on a 2xx answer."""
import json
import ssl
import sys
import urllib.error
import urllib.request

with open(sys.argv[1], encoding="utf-8") as f:
    spec = json.load(f)
context = None
if spec["insecureSkipVerify"]:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
body = spec["body"]
request = urllib.request.Request(
    spec["url"],
    data=None if body is None else body.encode("utf-8"),
    method=spec["method"],
    headers=dict(spec["headers"]),
)
try:
    with urllib.request.urlopen(request, timeout=spec["timeoutSeconds"], context=context) as response:
        status = response.status
except urllib.error.HTTPError as e:
    status = e.code
except Exception as e:  # noqa: BLE001 - any failure is reported and the shutdown goes on
    print("graceful-vm prestop: %s request failed: %s" % (spec["method"], type(e).__name__), file=sys.stderr)
    sys.exit(2)
print("graceful-vm prestop: %s answered HTTP %d" % (spec["method"], status))
sys.exit(0 if 200 <= status < 300 else 1)
`;
