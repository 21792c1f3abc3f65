import * as pulumi from "@pulumi/pulumi";
import { GracefulVm } from "../../components/gracefulVm";
import { guestPaths } from "../../src/guest/hooks";
import { InputError } from "../../src/power/errors";
import { recordRegistrations, valueOf } from "../components/mocks";
import { fileAt, parseUserData } from "./helpers";

const target = { custom: { module: "/opt/drivers/fake.js" } };

describe("GracefulVm: preStop and lifecycle", () => {
    test("without preStop or lifecycle there is no user-data", async () => {
        await recordRegistrations();
        const vm = new GracefulVm("plain", { target });
        expect(await valueOf(vm.userData)).toBeUndefined();
    });

    test("renders the hooks as the userData output", async () => {
        await recordRegistrations();
        const vm = new GracefulVm("web", {
            target: { libvirt: { uri: "qemu:///system", domain: "web-1" } },
            gracefulShutdownTimeout: "3m",
            preStop: [{ name: "drain", drain: { seconds: "30s", createFile: "/run/app/draining" } }],
            lifecycle: { services: [{ name: "app", timeoutStopSec: "60s" }] },
        });
        const config = parseUserData((await valueOf(vm.userData)) ?? "");
        expect(config.packages).toEqual(["qemu-guest-agent"]);
        expect(fileAt(config, guestPaths.unit).content).toContain(
            "After=sysinit.target basic.target network.target network-online.target app.service",
        );
    });

    test("a budget that cannot fit fails at construction (preview), naming the numbers", async () => {
        await recordRegistrations();
        expect(
            () =>
                new GracefulVm("tight", {
                    target,
                    gracefulShutdownTimeout: "90s",
                    preStop: [
                        { name: "drain", drain: { seconds: "30s", createFile: "/run/app/draining" } },
                        { name: "deregister", httpGet: { url: "http://lb/deregister" }, timeout: "5s" },
                    ],
                    lifecycle: { services: [{ name: "app", timeoutStopSec: "60s" }] },
                }),
        ).toThrow(
            /^preStop: the guest's shutdown can take up to 2m47s: drain 30s \+ deregister 6s \(5s \+ 1s kill grace\) \+ preStop unit grace 1s \+ app stop 2m \(2 × 1m, KillMode=control-group\) \+ margin 10s; that is 1m17s more than gracefulShutdownTimeout 1m30s/,
        );
    });

    test("the default gracefulShutdownTimeout (60s) is what the budget is checked against", async () => {
        await recordRegistrations();
        expect(
            () => new GracefulVm("default", { target, preStop: [{ name: "d", drain: { seconds: "55s", createFile: "/run/d" } }] }),
        ).toThrow(/more than gracefulShutdownTimeout 1m\b/);
    });

    test("a bad hook fails at construction naming its field", async () => {
        await recordRegistrations();
        let error: unknown;
        try {
            new GracefulVm("bad", { target, preStop: [{ name: "x", exec: { command: ["printf", "a\u0000"] } }] });
        } catch (e) {
            error = e;
        }
        expect(error).toBeInstanceOf(InputError);
        expect((error as InputError).field).toBe("preStop[0].exec.command[1]");
    });

    test("hooks given as Outputs are rendered once known; a secret header makes userData secret", async () => {
        await recordRegistrations();
        const token = pulumi.secret("Bearer tok-Sup3rS3cret");
        const vm = new GracefulVm("outputs", {
            target,
            gracefulShutdownTimeout: pulumi.output("2m"),
            preStop: [
                token.apply((t) => ({
                    name: "deregister",
                    httpGet: { url: "http://lb/deregister", headers: { Authorization: t } },
                    timeout: "5s",
                })),
            ],
        });
        expect(await pulumi.isSecret(vm.userData)).toBe(true);
        const config = parseUserData((await valueOf(vm.userData)) ?? "");
        expect(JSON.parse(fileAt(config, `${guestPaths.hooksDir}/01-deregister.json`).content).headers).toEqual([
            ["Authorization", "Bearer tok-Sup3rS3cret"],
        ]);
    });

    test("Azure: a budget over 5 minutes fails even with a longer gracefulShutdownTimeout", async () => {
        await recordRegistrations();
        expect(
            () =>
                new GracefulVm("az", {
                    target: { azure: { subscriptionId: "00000000-0000-0000-0000-000000000000", resourceGroupName: "rg", vmName: "vm" } },
                    gracefulShutdownTimeout: "10m",
                    preStop: [{ name: "drain", drain: { seconds: "5m", createFile: "/run/d" } }],
                }),
        ).toThrow(/5m Azure gives a guest to shut down/);
    });
});
