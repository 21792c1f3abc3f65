import * as YAML from "yaml";
import { guestPaths } from "../../src/guest/hooks";
import { renderGuestUserData } from "../../src/guest/render";
import { PreStopHook } from "../../src/guest/types";
import { InputError } from "../../src/power/errors";
import { fileAt, parseUserData } from "./helpers";

const hooks: PreStopHook[] = [
    {
        name: "drain",
        drain: { seconds: "20s", createFile: "/run/app/draining", request: { url: "http://127.0.0.1:8080/admin/drain", method: "POST" } },
    },
    {
        name: "deregister",
        httpGet: { url: "https://lb.example/v1/targets/web-1", method: "DELETE", headers: { Authorization: "Bearer tok" } },
        timeout: "5s",
    },
    { name: "flush", exec: { command: ["/usr/local/bin/app", "flush", "--all"] }, timeout: "15s" },
];
const options = { platform: "libvirt" as const, gracefulTimeoutMs: 180_000 };

describe("rendered user-data", () => {
    const { userData } = renderGuestUserData(
        hooks,
        { services: ["app", { name: "worker", timeoutStopSec: "45s", killMode: "mixed" }] },
        options,
    );
    const config = parseUserData(userData);

    test("is #cloud-config with write_files and the platform's agent, stating the worst case in a comment", () => {
        expect(userData.split("\n").slice(0, 3)).toEqual([
            "#cloud-config",
            "# graceful-vm: a poweroff of this guest takes at most 2m44s = preStop hooks 49s + services 1m45s + margin 10s.",
            `# The hooks are armed while ${guestPaths.armedMarker} exists.`,
        ]);
        expect(config.packages).toEqual(["qemu-guest-agent"]);
        for (const file of config.write_files ?? []) expect(typeof file.permissions).toBe("string");
    });

    test("nothing goes into runcmd: a boot script of its own arms the hooks without ever waiting", () => {
        expect(config.runcmd).toBeUndefined();
        const boot = fileAt(config, guestPaths.bootScript);
        expect(guestPaths.bootScript).toBe("/var/lib/cloud/scripts/per-boot/graceful-vm");
        expect(boot.permissions).toBe("0700");
        const commands = boot.content.split("\n").filter((line) => line.startsWith("systemctl"));
        expect(commands).toEqual([
            "systemctl daemon-reload || status=1",
            "systemctl start --no-block qemu-guest-agent.service || true",
            "systemctl enable graceful-vm-prestop.service || status=1",
            "systemctl start --no-block graceful-vm-prestop.service || status=1",
        ]);
        expect(boot.content).not.toMatch(/--now/);
        expect(boot.content.trimEnd().split("\n").pop()).toBe('exit "$status"');
    });

    test("the unit marks itself armed while it is active", () => {
        const unit = fileAt(config, guestPaths.unit).content;
        expect(unit).toContain(`\nExecStart=${guestPaths.armer}\n`);
        expect(unit).toContain("\nRuntimeDirectory=graceful-vm-prestop\n");
        expect(guestPaths.armedMarker).toBe("/run/graceful-vm-prestop/armed");
        expect(fileAt(config, guestPaths.armer).content).toContain(`> ${guestPaths.armedMarker}\n`);
    });

    test("the pre-stop unit is a oneshot ordered after the services and the network, stopping within the hooks' worst case", () => {
        const unit = fileAt(config, guestPaths.unit).content;
        expect(unit).toContain("\nType=oneshot\n");
        expect(unit).toContain("\nRemainAfterExit=yes\n");
        expect(unit).toContain(`\nExecStop=${guestPaths.runner}\n`);
        expect(unit).toContain("\nAfter=sysinit.target basic.target network.target network-online.target app.service worker.service\n");
        // No default dependencies: multi-user.target must not be ordered after the unit (see hooks.ts); the defaults are written out.
        expect(unit).toContain("\nDefaultDependencies=no\nRequires=sysinit.target\n");
        expect(unit).toContain("\nConflicts=shutdown.target\nBefore=shutdown.target\n");
        // drain 20s + its request 5s + 1s kill grace, deregister 5s + 1s, flush 15s + 1s, plus 1s so the hooks' own timeouts fire first.
        expect(unit).toContain("\nTimeoutStopSec=49s\n");
        expect(unit).toContain("\nKillMode=mixed\n");
        expect(unit).toContain(
            "# Stop at worst on poweroff: 49s = drain 26s (20s + request 5s + 1s kill grace) + deregister 6s (5s + 1s kill grace) + flush 16s (15s + 1s kill grace) + preStop unit grace 1s.\n",
        );
        expect(unit).toContain("\nWantedBy=multi-user.target\n");
    });

    test("the runner runs the hooks in order, each with its timeout", () => {
        const runner = fileAt(config, guestPaths.runner).content;
        const calls = runner.split("\n").filter((line) => line.startsWith("run_hook "));
        expect(calls).toEqual(["run_hook 01-drain 0 both", "run_hook 02-deregister 5 both", "run_hook 03-flush 15 both"]);
        expect(runner).toContain('timeout --kill-after=1 "$seconds"');
        expect(runner).toContain("\nkind=any # every hook runs on every shutdown\n");
        expect(fileAt(config, guestPaths.runner).permissions).toBe("0700");
    });

    test("each service gets a drop-in with TimeoutStopSec and KillMode", () => {
        const app = fileAt(config, "/etc/systemd/system/app.service.d/50-graceful-vm.conf").content;
        expect(app).toMatch(/\[Service\]\nTimeoutStopSec=30s\nKillMode=control-group\n$/);
        expect(app).toContain("# at worst 2 × 30s = 1m (KillMode=control-group:");
        const worker = fileAt(config, "/etc/systemd/system/worker.service.d/50-graceful-vm.conf").content;
        expect(worker).toMatch(/\[Service\]\nTimeoutStopSec=45s\nKillMode=mixed\n$/);
        expect(worker).toContain("# at worst 1 × 45s = 45s (KillMode=mixed:");
    });

    test("request headers live in a root-only file, not on a command line", () => {
        const spec = fileAt(config, `${guestPaths.hooksDir}/02-deregister.json`);
        expect(spec.permissions).toBe("0600");
        expect(JSON.parse(spec.content)).toEqual({
            method: "DELETE",
            url: "https://lb.example/v1/targets/web-1",
            headers: [["Authorization", "Bearer tok"]],
            body: null,
            insecureSkipVerify: false,
            timeoutSeconds: 5,
        });
        const scripts = (config.write_files ?? []).filter((f) => !f.path.endsWith(".json")).map((f) => f.content);
        expect(scripts.join("\n")).not.toContain("Bearer tok");
    });

    test("the drain hook creates the file, calls the URL with its own timeout, then waits", () => {
        const drain = fileAt(config, `${guestPaths.hooksDir}/01-drain`).content;
        expect(drain).toContain("touch -- /run/app/draining");
        expect(drain).toContain(`timeout --kill-after=1 5 python3 ${guestPaths.httpRequest} ${guestPaths.hooksDir}/01-drain.json`);
        expect(drain.trimEnd().split("\n").pop()).toBe("sleep 20");
    });

    test("a script hook keeps its own interpreter, or gets /bin/sh", () => {
        const rendered = parseUserData(
            renderGuestUserData(
                [
                    { name: "a", exec: { script: "#!/bin/bash\necho a" } },
                    { name: "b", exec: { script: "echo b" } },
                ],
                undefined,
                options,
            ).userData,
        );
        expect(fileAt(rendered, `${guestPaths.hooksDir}/01-a`).content).toBe("#!/bin/bash\necho a\n");
        expect(fileAt(rendered, `${guestPaths.hooksDir}/02-b`).content).toBe("#!/bin/sh\necho b\n");
    });
});

describe("hooks that run on poweroff or reboot only", () => {
    const rendered = renderGuestUserData(
        [
            { name: "drain", drain: { seconds: "10s", createFile: "/run/d" }, on: ["poweroff"] },
            { name: "warm", exec: { command: ["true"] }, timeout: "20s", on: ["reboot"] },
            { name: "flush", exec: { command: ["sync"] }, timeout: "5s" },
        ],
        { installGuestAgent: false },
        options,
    );
    const config = parseUserData(rendered.userData);
    const runner = fileAt(config, guestPaths.runner).content;

    test("the runner asks systemd which shutdown this is, bounded, and runs the poweroff hooks when it cannot tell", () => {
        expect(runner).toContain("kind=$(timeout -s KILL 2 systemctl list-jobs --no-legend 2>/dev/null |");
        expect(runner).toContain('[ -n "$kind" ] || kind=poweroff');
        expect(runner.split("\n").filter((line) => line.startsWith("run_hook "))).toEqual([
            "run_hook 01-drain 0 poweroff",
            "run_hook 02-warm 20 reboot",
            "run_hook 03-flush 5 both",
        ]);
    });

    test("the unit's stop limit covers the longer kind; the budget counts poweroff", () => {
        // poweroff: 2s check + 10s + 6s + 1s = 19s; reboot: 2s + 21s + 6s + 1s = 30s.
        expect(rendered.budget.hooksMs).toBe(19_000);
        const unit = fileAt(config, guestPaths.unit).content;
        expect(unit).toContain("\nTimeoutStopSec=30s\n");
        expect(unit).toContain("\n# On reboot: 30s.\n");
    });
});

describe("guest agents", () => {
    const packagesFor = (platform: "libvirt" | "proxmox" | "vsphere" | "azure" | "custom", lifecycle?: object): unknown =>
        parseUserData(
            renderGuestUserData([{ name: "x", exec: { command: ["true"] } }], lifecycle, { platform, gracefulTimeoutMs: 60_000 }).userData,
        ).packages;
    test.each([
        ["libvirt", ["qemu-guest-agent"]],
        ["proxmox", ["qemu-guest-agent"]],
        ["vsphere", ["open-vm-tools"]],
        ["azure", undefined],
        ["custom", undefined],
    ] as const)("%s installs %j", (platform, expected) => {
        expect(packagesFor(platform)).toEqual(expected);
    });
    test("installGuestAgent: false installs nothing (guests without a package mirror); installAcpid adds acpid", () => {
        expect(packagesFor("vsphere", { installGuestAgent: false })).toBeUndefined();
        expect(packagesFor("vsphere", { installGuestAgent: false, installAcpid: true })).toEqual(["acpid"]);
    });
});

describe("merging with the user's own #cloud-config", () => {
    const own = [
        "#cloud-config",
        "# my settings",
        "hostname: web-1",
        "packages: [nginx, qemu-guest-agent]",
        "runcmd:",
        "  - [systemctl, enable, --now, nginx]",
        "write_files:",
        "  - path: /etc/app.conf",
        "    content: |",
        "      port: 8080",
        "users:",
        "  - name: ops",
        "    sudo: ALL=(ALL) NOPASSWD:ALL",
        "",
    ].join("\n");
    const merged = parseUserData(renderGuestUserData([{ name: "x", exec: { command: ["true"] } }], { userData: own }, options).userData);

    test("keeps every key of theirs and extends their lists", () => {
        expect(merged.hostname).toBe("web-1");
        expect(merged.users).toEqual([{ name: "ops", sudo: "ALL=(ALL) NOPASSWD:ALL" }]);
        expect(merged.packages).toEqual(["nginx", "qemu-guest-agent"]);
        expect(merged.runcmd).toEqual([["systemctl", "enable", "--now", "nginx"]]);
        expect(merged.write_files?.[0]).toEqual({ path: "/etc/app.conf", content: "port: 8080\n" });
        expect(merged.write_files?.map((f) => f.path)).toEqual(expect.arrayContaining([guestPaths.unit, guestPaths.bootScript]));
    });

    test("their values keep their YAML 1.1 types", () => {
        const typed = parseUserData(
            renderGuestUserData(
                undefined,
                {
                    userData: "#cloud-config\npackage_upgrade: true\nssh_pwauth: no\nbootcmd:\n  - echo on\n",
                    installGuestAgent: false,
                    services: ["app"],
                },
                options,
            ).userData,
        );
        expect(typed.package_upgrade).toBe(true);
        expect(typed.ssh_pwauth).toBe(false);
        expect(typed.bootcmd).toEqual(["echo on"]);
    });

    test("a file both would write is an error naming the path", () => {
        const clash = `#cloud-config\nwrite_files:\n  - path: ${guestPaths.unit}\n    content: x\n`;
        expect(() => renderGuestUserData([{ name: "x", exec: { command: ["true"] } }], { userData: clash }, options)).toThrow(
            new InputError("lifecycle.userData.write_files", `already writes ${guestPaths.unit}, which the preStop hooks need to write`),
        );
    });

    test("an empty or header-only user-data is merged as nothing", () => {
        for (const text of ["", "#cloud-config", "#cloud-config\n"]) {
            const result = parseUserData(
                renderGuestUserData([{ name: "x", exec: { command: ["true"] } }], { userData: text, installGuestAgent: false }, options)
                    .userData,
            );
            expect(Object.keys(result).sort()).toEqual(["write_files"]);
        }
    });

    test("the output is YAML both parsers agree on", () => {
        const text = renderGuestUserData([{ name: "x", exec: { command: ["true"] } }], { userData: own }, options).userData;
        expect(YAML.parse(text)).toEqual(YAML.parse(text, { version: "1.1" }));
    });
});
