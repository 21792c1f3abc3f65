import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { exitCodes } from "../../src/cli/exitCodes";
import { TransitionReport } from "../../src/power/report";
import { FileHypervisor } from "../fixtures/fileHypervisor";
import { cli } from "./helpers";

/** `--json` + SIGINT/SIGTERM: the CLI still prints what happened so far, and exits 130/143. */

const bin = path.join(__dirname, "../../lib/src/cli/main.js");

function hungGuestConfig(dir: string): { file: string; hypervisor: FileHypervisor } {
    const hypervisor = new FileHypervisor({ "web-1": { state: "running", guest: "hung" } });
    const file = path.join(dir, "target.json");
    fs.writeFileSync(
        file,
        JSON.stringify({
            target: {
                custom: { module: hypervisor.driverModule, name: "web-1", options: { stateFile: hypervisor.stateFile, vm: "web-1" } },
            },
            gracefulShutdownTimeout: "60s",
        }),
    );
    return { file, hypervisor };
}

describe("an interrupted CLI run prints its report so far", () => {
    let dir: string;
    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "graceful-vm-interrupt-"));
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    test("in process: an abort during the graceful wait is JSON with the report, exit 130", async () => {
        const { file, hypervisor } = hungGuestConfig(dir);
        const controller = new AbortController();
        setTimeout(() => controller.abort(new Error("SIGINT")), 500).unref();
        const result = await cli(["off", "--graceful", "--config", file, "--json"], {}, process.cwd(), false, controller.signal);
        expect(result.code).toBe(exitCodes.interrupted);
        const body = result.json<{ errorType: string; signal: string; report: TransitionReport }>();
        expect(body).toMatchObject({ errorType: "InterruptedError", signal: "SIGINT", exitCode: 130 });
        expect(body.report.calls.map((c) => c.op)).toContain("requestGuestShutdown");
        expect(hypervisor.vm("web-1").state).toBe("running");
    });

    test("the compiled bin: SIGTERM during the wait prints JSON and exits 143 within seconds", async () => {
        const { file } = hungGuestConfig(dir);
        const child = spawn(process.execPath, [bin, "off", "--graceful", "--config", file, "--json"], {
            stdio: ["ignore", "pipe", "pipe"],
        });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
        child.stderr.on("data", (c: Buffer) => {
            stderr += c.toString();
        });
        // Interrupt once the run is waiting for the guest.
        await new Promise<void>((resolve) => {
            const check = setInterval(() => {
                if (/waiting|gracefulWait|asked web-1/i.test(stderr)) {
                    clearInterval(check);
                    resolve();
                }
            }, 50);
        });
        const sentAt = Date.now();
        child.kill("SIGTERM");
        const code = await new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
        expect(code).toBe(exitCodes.terminated);
        expect(Date.now() - sentAt).toBeLessThan(3_000);
        const body = JSON.parse(stdout) as { errorType: string; report: TransitionReport };
        expect(body.errorType).toBe("InterruptedError");
        expect(body.report.from).toBe("running");
    }, 30_000);
});
