import * as pulumi from "@pulumi/pulumi";
import { GracefulVm } from "../../components/gracefulVm";
import { GracefulVmArgs } from "../../components/gracefulVmArgs";
import { guestPaths } from "../../src/guest/hooks";
import { FileHypervisor } from "../fixtures/fileHypervisor";
import { Engine, startEngine } from "../harness";
import { fileAt, parseUserData } from "./helpers";

/**
 * preStop through the real dynamic-provider host: a budget that cannot fit stops `pulumi
 * preview` before any resource is registered or any VM touched; a good one renders user-data
 * next to a working VmPower, and a secret header stays out of state and the host's logs.
 * Needs `npm run build` (scripts/test.sh does it): the host loads the package from lib/.
 */
describe("preStop through the dynamic-provider host", () => {
    let engine: Engine;
    const hypervisor = new FileHypervisor({ "web-1": { state: "running", guest: "graceful", shutdownDelayMs: 200 } });
    const headerToken = "hdr-Tq7-secret-never-stored";

    const program = (args: Partial<GracefulVmArgs>, onUserData?: (userData: string | undefined) => void) => () => {
        const vm = new GracefulVm("web", {
            target: {
                custom: { module: hypervisor.driverModule, name: "web-1", options: { stateFile: hypervisor.stateFile, vm: "web-1" } },
            },
            ...args,
        });
        vm.userData.apply((u) => onUserData?.(u));
    };

    beforeAll(async () => {
        engine = await startEngine();
    });
    afterAll(async () => {
        await engine?.close();
    });

    test("a budget that cannot fit fails preview, naming the numbers, before anything is registered", async () => {
        const attempt = engine.up(
            program({
                gracefulShutdownTimeout: "90s",
                preStop: [
                    { name: "drain", drain: { seconds: "30s", createFile: "/run/app/draining" } },
                    { name: "deregister", httpGet: { url: "http://lb/deregister" }, timeout: "5s" },
                ],
                lifecycle: { services: [{ name: "app", timeoutStopSec: "60s" }] },
            }),
            { preview: true },
        );
        await expect(attempt).rejects.toThrow(
            /preStop: the guest's shutdown can take up to 2m47s: drain 30s \+ deregister 6s \(5s \+ 1s kill grace\) \+ preStop unit grace 1s \+ app stop 2m \(2 × 1m, KillMode=control-group\) \+ margin 10s; that is 1m17s more than gracefulShutdownTimeout 1m30s/,
        );
        expect(engine.state()).toEqual([]);
        expect(hypervisor.takeJournal()).toEqual([]);
    });

    test("a plan that fits: the VM's power is managed and the user-data is rendered; the secret header is nowhere in state or logs", async () => {
        let userData: string | undefined;
        const result = await engine.up(
            program(
                {
                    powerState: "On",
                    gracefulShutdownTimeout: "3m",
                    preStop: [
                        { name: "drain", drain: { seconds: "30s", createFile: "/run/app/draining" } },
                        pulumi.secret(headerToken).apply((t) => ({
                            name: "deregister",
                            httpGet: {
                                url: "https://lb/deregister",
                                method: "POST" as const,
                                headers: { Authorization: `Bearer ${t}` },
                            },
                            timeout: "5s",
                        })),
                    ],
                    lifecycle: { services: [{ name: "app", timeoutStopSec: "60s" }] },
                },
                (u) => (userData = u),
            ),
        );
        expect(result.steps.map((s) => s.op)).toEqual(["create"]);
        expect(result.outputs("web-power").observedPowerState).toBe("running");
        const config = parseUserData(userData ?? "");
        expect(fileAt(config, guestPaths.unit).content).toContain("TimeoutStopSec=37s");
        expect(fileAt(config, `${guestPaths.hooksDir}/02-deregister.json`).content).toContain(headerToken);
        expect(JSON.stringify(engine.state().map((r) => r.raw))).not.toContain(headerToken);
        expect(engine.hostLogs()).not.toContain(headerToken);
    });

    test("hooks still unknown at preview are judged once known, not before", async () => {
        let rendered: string | undefined = "not called";
        const unknownHooks = pulumi.output(pulumi.unknown) as unknown as pulumi.Output<
            Array<{ name: string; drain: { seconds: string; createFile: string } }>
        >;
        const result = await engine.up(
            program({ powerState: "On", gracefulShutdownTimeout: "3m", preStop: unknownHooks }, (u) => (rendered = u)),
            { preview: true },
        );
        expect(result.steps.map((s) => s.op)).toEqual(["same"]);
        // An apply on an unknown value does not run at preview: nothing was judged or rendered.
        expect(rendered).toBe("not called");
    });
});
