import * as pulumi from "@pulumi/pulumi";
import { childPropertyPaths } from "../../components/childOptions";
import { GracefulVm } from "../../components/gracefulVm";
import { recordRegistrations, valueOf } from "./mocks";

interface Options {
    name: string;
    customTimeouts?: { create: string; update: string; delete: string };
    retainOnDelete?: boolean;
    ignoreChanges: string[];
    deletedWith: string;
    parent: string;
}

/** The options each registered resource carried, as the engine receives them. */
async function recordOptions(): Promise<Options[]> {
    await recordRegistrations();
    const seen: Options[] = [];
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the mock monitor is untyped
    const monitor: any = pulumi.runtime.getMonitor();
    const original = monitor.registerResource.bind(monitor);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    monitor.registerResource = (request: any, callback: any) => {
        const timeouts = request.getCustomtimeouts();
        seen.push({
            name: request.getName(),
            customTimeouts: timeouts
                ? { create: timeouts.getCreate(), update: timeouts.getUpdate(), delete: timeouts.getDelete() }
                : undefined,
            retainOnDelete: request.hasRetainondelete?.() === false ? undefined : request.getRetainondelete(),
            ignoreChanges: request.getIgnorechangesList(),
            deletedWith: request.getDeletedwith(),
            parent: request.getParent(),
        });
        return original(request, callback);
    };
    return seen;
}

async function settle(vm: GracefulVm): Promise<void> {
    await valueOf(vm.observedPowerState);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- internal SDK hook
    await (pulumi.runtime as any).waitForRPCs();
}

const target = { libvirt: { uri: "qemu:///system", domain: "web-1" } };

describe("resource options given to GracefulVm reach its power child", () => {
    test("customTimeouts, retainOnDelete, ignoreChanges (in the child's terms) and deletedWith", async () => {
        const seen = await recordOptions();
        const vm = new (class extends pulumi.CustomResource {})("test:index:Vm", "web-vm", {});
        const graceful = new GracefulVm(
            "web",
            { target, powerState: "OffGraceful" },
            {
                customTimeouts: { create: "5m", update: "10m", delete: "15m" },
                retainOnDelete: true,
                ignoreChanges: ["powerState", "target.libvirt.domain", "preStop"],
                deletedWith: vm,
            },
        );
        await settle(graceful);
        const power = seen.find((r) => r.name === "web-power")!;
        expect(power.customTimeouts).toEqual({ create: "5m", update: "10m", delete: "15m" });
        expect(power.retainOnDelete).toBe(true);
        expect(power.ignoreChanges).toEqual(["powerState", "target.domain"]);
        expect(power.deletedWith).toBe(await valueOf(vm.urn));
        expect(power.parent).toBe(await valueOf(graceful.urn));
    });

    test("without options the child carries none of them", async () => {
        const seen = await recordOptions();
        const graceful = new GracefulVm("plain", { target });
        await settle(graceful);
        const power = seen.find((r) => r.name === "plain-power")!;
        expect(power.customTimeouts ?? { create: "", update: "", delete: "" }).toEqual({ create: "", update: "", delete: "" });
        expect(power.retainOnDelete).toBeFalsy();
        expect(power.ignoreChanges).toEqual([]);
        expect(power.deletedWith).toBe("");
    });

    test("paths map secrets to credentials and the whole target to both halves", () => {
        expect(
            childPropertyPaths(["target.vsphere.password", "target.vsphere.vm", "gracefulShutdownTimeout"], "vsphere", ["password"]),
        ).toEqual(["credentials.password", "target.vm", "gracefulShutdownTimeout"]);
        expect(childPropertyPaths(["target"], "vsphere", ["password"])).toEqual(["target", "credentials"]);
        expect(childPropertyPaths(["target.libvirt"], "libvirt", [])).toEqual(["target"]);
        expect(childPropertyPaths(["lifecycle", "userData"], "libvirt", [])).toEqual([]);
    });
});

describe("warnings at preview are attached to the component", () => {
    afterEach(() => jest.restoreAllMocks());

    test("a platform warning (Azure's 5 minutes) and a customTimeouts shorter than the graceful timeout", async () => {
        await recordRegistrations(true);
        const warn = jest.spyOn(pulumi.log, "warn").mockResolvedValue();
        const graceful = new GracefulVm(
            "slow",
            {
                target: {
                    azure: {
                        subscriptionId: "6f1c2b6e-0d5e-4a36-9a7c-3f1a2b3c4d5e",
                        resourceGroupName: "rg",
                        vmName: "slow-1",
                        clientSecret: pulumi.secret("s3cret-value"),
                        tenantId: "contoso.onmicrosoft.com",
                        clientId: "0d5a1f3e-8c2b-4e7a-9f10-aa11bb22cc33",
                    },
                },
                gracefulShutdownTimeout: "10m",
            },
            { customTimeouts: { update: "5m" } },
        );
        const messages = warn.mock.calls.filter(([, resource]) => resource === graceful).map(([message]) => message);
        expect(messages).toEqual([
            expect.stringMatching(/Azure forces a VM off about 5 minutes/),
            expect.stringMatching(/customTimeouts\.update is 5m, not more than gracefulShutdownTimeout \(10m\)/),
        ]);
        await settle(graceful);
    });

    test("nothing to warn about: no warning", async () => {
        await recordRegistrations(true);
        const warn = jest.spyOn(pulumi.log, "warn").mockResolvedValue();
        const graceful = new GracefulVm("fine", { target, gracefulShutdownTimeout: "1m" }, { customTimeouts: { update: "10m" } });
        expect(warn.mock.calls.filter(([, resource]) => resource === graceful)).toEqual([]);
        await settle(graceful);
    });
});
