import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { cleanupBoundMs } from "../../src/operations/run";
import { ProxmoxContractServer } from "../contracts/proxmox";

/**
 * Acceptance (issue 12): a frozen endpoint (the process in front of the API stopped with
 * SIGSTOP) during `off --graceful --timeout 10s` ends the CLI within deadline + verify + the
 * clean-up bound, with the first error in the report.
 */
const bin = path.join(__dirname, "../../lib/src/cli/main.js");
const token = { id: "automation@pve!frozen", secret: "0e5c1b7a-frozen-endpoint-token" };

test("a frozen endpoint during off --graceful --timeout 10s ends within the bound, first error reported", async () => {
    const server = await ProxmoxContractServer.start({ authFailureDelayMs: 50 });
    server.addToken({ ...token, privileges: ["VM.Audit", "VM.PowerMgmt", "VM.GuestAgent.Audit"] });
    server.addVm({ vmid: 100, shutdownDelayMs: "never" });
    const upstream = Number(new URL(server.endpoint).port);
    // A real process between the CLI and the API, so that SIGSTOP freezes it like a hung vCenter.
    const proxy: ChildProcess = spawn(process.execPath, ["-e", relayScript(upstream)], { stdio: ["ignore", "pipe", "inherit"] });
    const port = await new Promise<number>((resolve) => proxy.stdout?.once("data", (d: Buffer) => resolve(Number(d.toString().trim()))));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "graceful-vm-frozen-"));
    const config = path.join(dir, "target.json");
    fs.writeFileSync(
        config,
        JSON.stringify({
            target: {
                proxmox: {
                    endpoint: `https://127.0.0.1:${port}`,
                    node: "pve1",
                    vmId: 100,
                    fingerprint: server.certificate.fingerprint256,
                    apiToken: `${token.id}=${token.secret}`,
                },
            },
        }),
    );
    const verifyMs = 10_000;
    const started = Date.now();
    const cli = spawn(
        process.execPath,
        [
            bin,
            "off",
            "--graceful",
            "--timeout",
            "10s",
            "--verify-timeout",
            "10s",
            "--call-timeout",
            "5s",
            "--config",
            config,
            "--json",
            "--quiet",
        ],
        {
            stdio: ["ignore", "pipe", "pipe"],
        },
    );
    let stdout = "";
    cli.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    // Freeze the endpoint once the guest has been asked.
    const freezeAt = setInterval(() => {
        if (server.tasksOf(100, "qmshutdown").length > 0) {
            clearInterval(freezeAt);
            proxy.kill("SIGSTOP");
        }
    }, 50);
    const code = await new Promise<number | null>((resolve) => cli.on("exit", resolve));
    const elapsed = Date.now() - started;
    clearInterval(freezeAt);
    proxy.kill("SIGCONT");
    proxy.kill("SIGKILL");
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
    process.stdout.write(
        `frozen endpoint: the CLI ended after ${elapsed} ms (bound ${10_000 + verifyMs + cleanupBoundMs + 5_000} ms), exit ${code}\n`,
    );
    expect(code).toBe(1);
    const body = JSON.parse(stdout) as { report?: { firstError?: string } };
    expect(body.report?.firstError).toMatch(/did not answer within|no answer|ECONNRESET|timed out/i);
    // deadline + verify + clean-up bound, plus one call bound for the read and tools check.
    expect(elapsed).toBeLessThan(10_000 + verifyMs + cleanupBoundMs + 5_000);
}, 60_000);

function relayScript(upstream: number): string {
    return `
const net = require("net");
const s = net.createServer((c) => { const u = net.connect(${upstream}, "127.0.0.1"); c.pipe(u); u.pipe(c); c.on("error", () => u.destroy()); u.on("error", () => c.destroy()); });
s.listen(0, "127.0.0.1", () => process.stdout.write(String(s.address().port) + "\\n"));`;
}
