import * as fs from "fs";
import * as pulumi from "@pulumi/pulumi";
import { DesiredPowerState, GracefulVm } from "pulumi-graceful-vm";

// One existing vSphere VM with a declarative power state (see README.md).
const config = new pulumi.Config("graceful-vm");
const caCertFile = config.get("caCertFile");

const vm = new GracefulVm("web", {
    // The VM exists outside this program. If a resource here creates it, pass it as `vm` and build
    // `target.vsphere.vm` from its outputs, so the engine orders the two (docs/pulumi-up.md).
    target: {
        vsphere: {
            url: config.require("url"),
            username: config.require("username"),
            password: config.requireSecret("password"),
            vm: config.require("vm"),
            datacenter: config.get("datacenter"),
            // The vCenter's CA (VMCA root, PEM). Without it Node's default roots apply.
            caCert: caCertFile ? fs.readFileSync(caCertFile, "utf8") : undefined,
            insecure: config.getBoolean("insecure"),
        },
    },
    powerState: (config.get("powerState") as DesiredPowerState | undefined) ?? "On",
    gracefulShutdownTimeout: config.get("gracefulShutdownTimeout") ?? "2m",
    forceAfterTimeout: config.getBoolean("forceAfterTimeout") ?? true,
});

/** What vSphere reports after this `up` (or `refresh`): running, stopped, suspended. */
export const observedPowerState = vm.observedPowerState;
/** The last change: graceful or forced, VMware Tools' state, why it fell back, timings. */
export const lastTransition = vm.lastTransition;
