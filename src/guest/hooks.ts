import { formatExactDuration } from "../power/duration";
import { describeBudgetItems, guestBudget } from "./budget";
import { GuestPlan, PlannedDrainHook, PlannedHook, PlannedRequest, PlannedService } from "./plan";
import { shellCommand, shellQuote } from "./shell";
import { renderUnit, unitTimeSpan } from "./systemd";
import {
    hookKillGraceMs,
    hookLimitMs,
    needsShutdownKind,
    preStopStopLimitMs,
    preStopWorstCaseMs,
    runsOn,
    serviceTimeouts,
    serviceWorstCaseMs,
    shutdownKindCheckMs,
} from "./worstCase";

/** Where the rendered files live in the guest. */
export const guestPaths = {
    dir: "/usr/local/lib/graceful-vm/prestop",
    runner: "/usr/local/lib/graceful-vm/prestop/run-hooks",
    armer: "/usr/local/lib/graceful-vm/prestop/arm",
    /**
     * Run by cloud-init's scripts-per-boot module on every boot, on its own (never inside the
     * user's runcmd, which an `exit` or `set -e` could cut short), before the user's runcmd.
     */
    bootScript: "/var/lib/cloud/scripts/per-boot/graceful-vm",
    /** Exists exactly while the hooks are armed (the unit is active): what the host can read. */
    armedMarker: "/run/graceful-vm-prestop/armed",
    runtimeDirectory: "graceful-vm-prestop",
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

/**
 * Every file the hooks and service drop-ins need, in the order cloud-init should write them.
 * `agentStarts`: commands the boot script runs to start a guest agent installed by `packages`.
 */
export function renderGuestFiles(plan: GuestPlan, agentStarts: readonly string[] = []): GuestFile[] {
    const files: GuestFile[] = [];
    if (plan.hooks.length > 0) {
        plan.hooks.forEach((hook, index) => files.push(...renderHook(hook, hookFileName(hook, index))));
        if (plan.hooks.some((hook) => hook.kind === "httpGet" || (hook.kind === "drain" && hook.request))) {
            files.push({ path: guestPaths.httpRequest, permissions: "0755", content: httpRequestProgram });
        }
        files.push({ path: guestPaths.runner, permissions: "0700", content: renderRunner(plan) });
        files.push({ path: guestPaths.armer, permissions: "0700", content: renderArmer(plan) });
        files.push({ path: guestPaths.unit, permissions: "0644", content: renderPreStopUnit(plan) });
    }
    for (const service of plan.services) {
        files.push({
            path: `/etc/systemd/system/${service.unit}.d/${guestPaths.dropInName}`,
            permissions: "0644",
            content: renderDropIn(service),
        });
    }
    if (plan.hooks.length > 0 || plan.services.length > 0 || agentStarts.length > 0) {
        files.push({ path: guestPaths.bootScript, permissions: "0700", content: renderBootScript(plan, agentStarts) });
    }
    return files;
}

function renderDropIn(service: PlannedService): string {
    const timeout = formatExactDuration(service.timeoutStopMs);
    const worst = formatExactDuration(serviceWorstCaseMs(service));
    const why =
        service.killMode === "control-group"
            ? "KillMode=control-group: when the main process exits, the processes left get SIGTERM again and a fresh TimeoutStopSec"
            : "KillMode=mixed: SIGTERM to the main process; the rest get SIGKILL when it exits, or at the timeout";
    return renderUnit(
        [
            "graceful-vm: how long this service gets to stop at shutdown, counted in the host's graceful-shutdown budget:",
            `at worst ${serviceTimeouts(service)} × ${timeout} = ${worst} (${why}).`,
        ],
        [
            {
                name: "Service",
                entries: [
                    ["TimeoutStopSec", unitTimeSpan(service.timeoutStopMs)],
                    ["KillMode", service.killMode],
                ],
            },
        ],
    );
}

/**
 * Arms the hooks on every boot. Never waits for the unit to start: it is ordered after the
 * listed services, one of which may itself wait for cloud-final, which waits for this script
 * (a blocking start would deadlock the boot). Each step is tried even if one before failed,
 * and a failure makes cloud-init report an error.
 */
function renderBootScript(plan: GuestPlan, agentStarts: readonly string[]): string {
    const lines = [
        "#!/bin/sh",
        "# graceful-vm: run by cloud-init (scripts-per-boot) on every boot, on its own, before the user's runcmd:",
        "# loads the service drop-ins and arms the preStop hooks. --no-block: the unit starts after the",
        "# services it is ordered after, which may wait for cloud-init itself.",
        "status=0",
        "systemctl daemon-reload || status=1",
    ];
    if (agentStarts.length > 0)
        lines.push(
            "# The guest agent installed by packages (udev would have started it at boot, before it was installed).",
            ...agentStarts,
        );
    if (plan.hooks.length > 0) {
        lines.push(
            `systemctl enable ${guestPaths.unitName} || status=1`,
            `systemctl start --no-block ${guestPaths.unitName} || status=1`,
            'if [ "$status" = 0 ]; then',
            `    echo "graceful-vm: preStop hooks queued to arm (armed once ${guestPaths.armedMarker} exists)"`,
            "else",
            '    echo "graceful-vm: could not arm the preStop hooks" >&2',
            "fi",
        );
    }
    lines.push('exit "$status"', "");
    return lines.join("\n");
}

/** ExecStart= of the unit: from now on a shutdown runs the hooks; say so where the host can read it. */
function renderArmer(plan: GuestPlan): string {
    const what = `${plan.hooks.length} hook${plan.hooks.length === 1 ? "" : "s"}, stop limit ${formatExactDuration(preStopStopLimitMs(plan))}`;
    return [
        "#!/bin/sh",
        "# graceful-vm: ExecStart= of graceful-vm-prestop.service. The marker lives in the unit's RuntimeDirectory,",
        "# so it exists exactly while the unit is active, i.e. while a shutdown would run the hooks.",
        `printf 'armed %s: ${what}\\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > ${shellQuote(guestPaths.armedMarker)}`,
        `echo "graceful-vm prestop: armed (${what})"`,
        "",
    ].join("\n");
}

export function hookFileName(hook: PlannedHook, index: number): string {
    return `${String(index + 1).padStart(2, "0")}-${hook.name}`;
}

/**
 * The unit whose `ExecStop=` runs the hooks. Being ordered `After=` the application services and
 * the network, it is stopped before them at shutdown (stop order is the reverse of start
 * order), so the hooks finish before the services get SIGTERM and while the network is up.
 * `KillMode=mixed`: whatever a hook leaves running is SIGKILLed as soon as the runner ends (or
 * at the timeout), where `control-group` would give it a second `TimeoutStopSec=`.
 */
export function renderPreStopUnit(plan: GuestPlan): string {
    // DefaultDependencies=no, with the defaults a service gets written out below, for one reason:
    // without it multi-user.target (which wants the unit) would be ordered after it, and so after
    // the listed services; a listed service ordered after cloud-final (itself after
    // multi-user.target) would close an ordering cycle at every boot.
    const after = ["sysinit.target", "basic.target", "network.target", "network-online.target", ...plan.services.map((s) => s.unit)];
    const budget = guestBudget(plan);
    const hookItems = budget.items.slice(0, budget.items.length - plan.services.length);
    const comment = [
        "graceful-vm: runs the preStop hooks when the guest shuts down, before the services listed in After= are stopped.",
        `Stop at worst on poweroff: ${formatExactDuration(budget.hooksMs)} = ${describeBudgetItems(hookItems)}.`,
    ];
    if (needsShutdownKind(plan)) comment.push(`On reboot: ${formatExactDuration(preStopWorstCaseMs(plan, "reboot"))}.`);
    comment.push(
        "Each hook gets SIGTERM at its timeout and SIGKILL 1s later; KillMode=mixed SIGKILLs what a hook leaves behind",
        "as soon as the hooks end, so the stop never takes longer than TimeoutStopSec.",
    );
    return renderUnit(comment, [
        {
            name: "Unit",
            entries: [
                ["Description", "graceful-vm preStop hooks"],
                ["DefaultDependencies", "no"],
                ["Requires", "sysinit.target"],
                ["After", after.join(" ")],
                ["Conflicts", "shutdown.target"],
                ["Before", "shutdown.target"],
            ],
        },
        {
            name: "Service",
            entries: [
                ["Type", "oneshot"],
                ["RemainAfterExit", "yes"],
                ["ExecStart", guestPaths.armer],
                ["ExecStop", guestPaths.runner],
                ["TimeoutStartSec", "30s"],
                ["TimeoutStopSec", unitTimeSpan(preStopStopLimitMs(plan))],
                ["KillMode", "mixed"],
                ["RuntimeDirectory", guestPaths.runtimeDirectory],
            ],
        },
        { name: "Install", entries: [["WantedBy", "multi-user.target"]] },
    ]);
}

function renderRunner(plan: GuestPlan): string {
    const hooks = plan.hooks;
    const graceSeconds = seconds3(hookKillGraceMs);
    const lines = [
        "#!/bin/sh",
        "# graceful-vm: ExecStop= of graceful-vm-prestop.service. Runs the preStop hooks in order, each bounded by its",
        `# timeout (SIGTERM, then SIGKILL ${graceSeconds}s later); a failed hook is logged and the shutdown goes on.`,
        `# At worst on poweroff: ${formatExactDuration(preStopWorstCaseMs(plan, "poweroff"))}, within the unit's TimeoutStopSec=${unitTimeSpan(preStopStopLimitMs(plan))}.`,
        `hooks=${shellQuote(guestPaths.hooksDir)}`,
    ];
    if (needsShutdownKind(plan)) {
        lines.push(
            "# Which shutdown is this? The job systemd queued for it says (SIGKILLed if systemd does not answer in time).",
            `kind=$(timeout -s KILL ${seconds3(shutdownKindCheckMs)} systemctl list-jobs --no-legend 2>/dev/null |`,
            '    awk \'$2 ~ /^(poweroff|halt)[.]target$/ { print "poweroff"; exit } $2 ~ /^(reboot|kexec)[.]target$/ { print "reboot"; exit }\')',
            "# Cannot tell (the unit stopped by hand): run the poweroff hooks, the ones the budget counts.",
            '[ -n "$kind" ] || kind=poweroff',
        );
    } else {
        lines.push("kind=any # every hook runs on every shutdown");
    }
    lines.push(
        "",
        "run_hook() {",
        "    hook=$1",
        "    seconds=$2",
        "    on=$3",
        '    if [ "$on" != both ] && [ "$on" != "$kind" ]; then',
        '        echo "graceful-vm prestop: hook $hook skipped (runs on $on only, this is a $kind)"',
        "        return",
        "    fi",
        '    echo "graceful-vm prestop: hook $hook start"',
        '    if [ "$seconds" = 0 ]; then',
        '        "$hooks/$hook"',
        "    else",
        `        timeout --kill-after=${graceSeconds} "$seconds" "$hooks/$hook"`,
        "    fi",
        "    rc=$?",
        "    case $rc in",
        '    0) echo "graceful-vm prestop: hook $hook done" ;;',
        '    124 | 137) echo "graceful-vm prestop: hook $hook timed out after ${seconds}s" ;;',
        '    *) echo "graceful-vm prestop: hook $hook failed with exit code $rc" ;;',
        "    esac",
        "}",
        "",
        `echo "graceful-vm prestop: begin (${hooks.length} hook${hooks.length === 1 ? "" : "s"}, shutdown kind $kind)"`,
    );
    hooks.forEach((hook, index) => {
        // A drain's own steps are bounded (its request has a timeout, then it sleeps): a
        // timeout racing its sleep would only report a finished drain as timed out.
        const seconds = hook.kind === "drain" ? "0" : seconds3(hookLimitMs(hook));
        const on = runsOn(hook, "poweroff") && runsOn(hook, "reboot") ? "both" : hook.on[0];
        lines.push(`run_hook ${shellQuote(hookFileName(hook, index))} ${seconds} ${on}`);
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
            `timeout --kill-after=${seconds3(hookKillGraceMs)} ${seconds3(hook.request.timeoutMs)} python3 ${shellQuote(guestPaths.httpRequest)} ${shellQuote(`${path}.json`)} || echo "graceful-vm prestop: the drain request of ${fileName} failed" >&2`,
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
