import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { stringify } from "yaml";
import { parseCommandLine } from "../../src/cli/args";
import { secretEnvName } from "../../src/cli/config";
import { exitCodes } from "../../src/cli/exitCodes";
import { ProgressLine } from "../../src/cli/progress";
import { TransitionReport } from "../../src/power/report";
import { FileHypervisor } from "../fixtures/fileHypervisor";
import { cli } from "./helpers";

/**
 * The CLI without a peer: argument and config handling, exit codes and secrets, against the
 * fake file hypervisor behind the generic `custom` platform (the path every platform takes).
 */

const token = "tok-cli-Vq7-never-printed";

function writeConfig(dir: string, name: string, content: unknown): string {
    const file = path.join(dir, name);
    fs.writeFileSync(file, name.endsWith(".json") ? JSON.stringify(content) : stringify(content));
    return file;
}

describe("graceful-vm command line", () => {
    test("--help shows usage, exit codes and examples", async () => {
        const result = await cli(["--help"]);
        expect(result.code).toBe(0);
        expect(result.stdout).toMatch(/Usage:/);
        expect(result.stdout).toMatch(/Exit codes:[\s\S]*3 {2}off --graceful\/--deallocate done, but only by a hard power-off/);
        expect(result.stdout).toMatch(/Examples:[\s\S]*graceful-vm off --graceful --timeout 2m/);
    });

    test("--version prints the package version", async () => {
        const result = await cli(["--version"]);
        expect(result.code).toBe(0);
        expect(result.stdout.trim()).toBe(JSON.parse(fs.readFileSync(path.join(__dirname, "../../package.json"), "utf8")).version);
    });

    test.each([
        [[], /a command is required/],
        [["reboot", "--domain", "d"], /unknown command "reboot"/],
        [["off", "--domain", "d", "--frobnicate"], /Unknown option '--frobnicate'/],
        [["on", "--graceful", "--domain", "d"], /--graceful applies to "off" only/],
        [["off", "--graceful", "--hard", "--domain", "d"], /choose one of --graceful, --hard/],
        [["off", "--timeout", "30s", "--domain", "d"], /--timeout applies to "off --graceful"/],
        [["off", "--no-force", "--domain", "d"], /--no-force applies to "off --graceful"/],
        [["status", "--wait-for-agent", "--domain", "d"], /--wait-for-agent applies to "on" and "restart" only/],
        [["status"], /no target/],
        [["off", "--graceful", "--timeout", "soon", "--domain", "d"], /gracefulShutdownTimeout: must be a duration/],
        [["status", "--domain", "a/b"], /target\.libvirt\.domain: must be a libvirt domain name/],
        [["status", "--domain", "d", "--libvirt-uri", "qemu:///system;id"], /target\.libvirt\.uri: must be a libvirt URI/],
        [["status", "--domain", "d", "--shutdown-mode", "button"], /target\.libvirt\.shutdownMode: must be one of/],
        [["status", "--config", "/nonexistent/target.yaml"], /--config \/nonexistent\/target.yaml: cannot read it \(ENOENT\)/],
    ])("%j is a usage error (exit 2): %s", async (argv, message) => {
        const result = await cli(argv);
        expect(result.code).toBe(exitCodes.usage);
        expect(result.stderr).toMatch(message);
        expect(result.stderr).toMatch(/graceful-vm --help/);
        expect(result.stdout).toBe("");
    });

    test("off is hard unless --graceful; --deallocate and --no-force map to the provider's inputs", () => {
        const request = (argv: string[]) => {
            const parsed = parseCommandLine(argv);
            if (parsed.kind !== "run") throw new Error("expected a run");
            return parsed.request;
        };
        expect(request(["off", "--domain", "d"]).desired).toBe("Off");
        expect(request(["off", "--hard", "--domain", "d"]).desired).toBe("Off");
        expect(request(["off", "--graceful", "--domain", "d"]).desired).toBe("OffGraceful");
        expect(request(["off", "--deallocate", "--no-force", "--domain", "d"])).toMatchObject({ desired: "Deallocated", noForce: true });
        expect(request(["on", "--domain", "d"]).desired).toBe("On");
        expect(request(["status", "--domain", "d"]).desired).toBeUndefined();
    });

    test("secret fields map to GRACEFUL_VM_<FIELD> environment variables", () => {
        expect(secretEnvName("password")).toBe("GRACEFUL_VM_PASSWORD");
        expect(secretEnvName("apiToken")).toBe("GRACEFUL_VM_API_TOKEN");
        expect(secretEnvName("clientSecret")).toBe("GRACEFUL_VM_CLIENT_SECRET");
        expect(secretEnvName("secrets")).toBe("GRACEFUL_VM_SECRETS");
    });
});

describe("graceful-vm against a platform driver (the fake hypervisor, via a config file)", () => {
    let dir: string;
    let hypervisor: FileHypervisor;
    const env = { GRACEFUL_VM_SECRETS: JSON.stringify({ token }) };

    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "graceful-vm-cli-"));
        hypervisor = new FileHypervisor({ "web-1": { state: "running", guest: "graceful", shutdownDelayMs: 200 } });
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    const config = (extra: Record<string, unknown> = {}) =>
        writeConfig(dir, "target.yaml", {
            target: {
                custom: {
                    module: hypervisor.driverModule,
                    name: "web-1",
                    options: { stateFile: hypervisor.stateFile, vm: "web-1", requiredToken: token },
                },
            },
            gracefulShutdownTimeout: "2s",
            ...extra,
        });

    function expectNoSecret(result: { stdout: string; stderr: string }): void {
        expect(result.stdout).not.toContain(token);
        expect(result.stderr).not.toContain(token);
    }

    test("status prints the state as JSON, exit 0", async () => {
        const result = await cli(["status", "--config", config(), "--json"], env);
        expect(result.code).toBe(0);
        expect(result.json()).toMatchObject({ platform: "fake", vm: "fake web-1", state: "running" });
        expectNoSecret(result);
    });

    test("off --graceful: graceful success is exit 0 with the report on stdout and progress on stderr", async () => {
        const result = await cli(["off", "--graceful", "--config", config(), "--json"], env);
        expect(result.code).toBe(exitCodes.ok);
        expect(result.json<TransitionReport>()).toMatchObject({
            from: "running",
            to: "stopped",
            method: "graceful",
            desired: "OffGraceful",
        });
        expect(result.stderr).toMatch(/waiting for the guest to shut down \(\d+\.\ds elapsed, \d+\.\ds left\)/);
        expectNoSecret(result);

        const again = await cli(["off", "--graceful", "--config", config()], env);
        expect(again.code).toBe(exitCodes.ok);
        expect(again.stdout).toMatch(/fake web-1: stopped -> stopped \(OffGraceful\) by none/);
    });

    test("a hung guest: forced success is exit 3; with --no-force it is exit 1 and the VM keeps running", async () => {
        hypervisor.set("web-1", { guest: "hung" });
        const strict = await cli(["off", "--graceful", "--timeout", "1s", "--no-force", "--config", config(), "--json"], env);
        expect(strict.code).toBe(exitCodes.failure);
        const body = strict.json<{ error: string; errorType: string; report: TransitionReport }>();
        expect(body.errorType).toBe("PowerTransitionError");
        expect(body.error).toMatch(/forcing is disabled/);
        expect(body.report).toMatchObject({ fallbackReason: "timeout", to: "running" });
        expect(hypervisor.vm("web-1").state).toBe("running");

        const forced = await cli(["off", "--graceful", "--timeout", "1s", "--config", config(), "--json"], env);
        expect(forced.code).toBe(exitCodes.forced);
        expect(forced.json<TransitionReport>()).toMatchObject({ method: "forced", fallbackReason: "timeout", to: "stopped" });
        expectNoSecret(forced);
    });

    test("config values apply and flags override them", async () => {
        hypervisor.set("web-1", { guest: "hung" });
        const file = config({ gracefulShutdownTimeout: "1s", forceAfterTimeout: false });
        const fromConfig = await cli(["off", "--graceful", "--config", file, "--quiet"], env);
        expect(fromConfig.code).toBe(exitCodes.failure);
        expect(fromConfig.stderr).toMatch(/forcing is disabled/);
        expect(fromConfig.stderr).not.toMatch(/elapsed/);

        const started = Date.now();
        const overridden = await cli(
            ["off", "--graceful", "--timeout", "1s", "--config", config({ gracefulShutdownTimeout: "10m" }), "--quiet", "--json"],
            env,
        );
        expect(overridden.code).toBe(exitCodes.forced);
        expect(overridden.json<TransitionReport>().gracefulTimeoutMs).toBe(1000);
        expect(Date.now() - started).toBeLessThan(5000);
    });

    test("a wrong secret fails (exit 1) without printing it; a config key typo is a usage error", async () => {
        const wrong = await cli(["off", "--config", config()], { GRACEFUL_VM_SECRETS: JSON.stringify({ token: "tok-wrong-Zx9-secret" }) });
        expect(wrong.code).toBe(exitCodes.failure);
        expect(wrong.stderr).toMatch(/token refused/);
        expect(wrong.stderr + wrong.stdout).not.toContain("tok-wrong-Zx9-secret");

        const typo = await cli(
            ["off", "--config", writeConfig(dir, "t.json", { target: { custom: { module: "/x" } }, gracefulShutdownTimout: "1s" })],
            env,
        );
        expect(typo.code).toBe(exitCodes.usage);
        expect(typo.stderr).toMatch(/gracefulShutdownTimout: is not a known config key/);
    });

    test("libvirt flags cannot be mixed with another platform's config", async () => {
        const result = await cli(["status", "--config", config(), "--domain", "web-1"], env);
        expect(result.code).toBe(exitCodes.usage);
        expect(result.stderr).toMatch(/for libvirt, but the config file's target is custom/);
    });
});

describe("progress line", () => {
    test("in a CI log: one line per phase with elapsed time and time left", () => {
        const lines: string[] = [];
        let now = 1_000;
        const progress = new ProgressLine({ write: (t) => void lines.push(t), isTTY: false }, () => now);
        progress.update({ phase: "gracefulRequest", elapsedMs: 100 });
        now += 400;
        progress.update({ phase: "gracefulWait", elapsedMs: 500, deadline: now + 29_500 });
        progress.finish();
        expect(lines).toEqual([
            "graceful-vm: asking the guest to shut down (0.1s elapsed)\n",
            "graceful-vm: waiting for the guest to shut down (0.5s elapsed, 29.5s left)\n",
        ]);
    });

    test("on a terminal: one live line rewritten in place, cleared at the end", () => {
        const writes: string[] = [];
        let now = 0;
        const progress = new ProgressLine({ write: (t) => void writes.push(t), isTTY: true }, () => now, 10);
        progress.update({ phase: "gracefulWait", elapsedMs: 0, deadline: 30_000 });
        now = 12_300;
        progress.update({ phase: "gracefulWait", elapsedMs: 12_300, deadline: 30_000 });
        progress.finish();
        expect(writes[0]).toBe("\r\x1b[Kgraceful-vm: waiting for the guest to shut down (0.0s elapsed, 30.0s left)");
        expect(writes[1]).toBe("\r\x1b[Kgraceful-vm: waiting for the guest to shut down (12.3s elapsed, 17.7s left)");
        expect(writes[writes.length - 1]).toBe("\r\x1b[K");
        expect(writes.every((w) => !w.includes("\n"))).toBe(true);
    });
});
