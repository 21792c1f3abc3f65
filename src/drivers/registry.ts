import { InputError } from "../power/errors";
import { azureSpec } from "./azure/spec";
import { customSpec } from "./custom/spec";
import { libvirtSpec } from "./libvirt/spec";
import { DriverFactory, PlatformName, PlatformSpec, platformNames } from "./platform";
import { proxmoxSpec } from "./proxmox/spec";
import { vsphereSpec } from "./vsphere/spec";

const specs: Record<PlatformName, PlatformSpec> = {
    libvirt: libvirtSpec as PlatformSpec,
    vsphere: vsphereSpec as PlatformSpec,
    proxmox: proxmoxSpec as PlatformSpec,
    azure: azureSpec as PlatformSpec,
    custom: customSpec as PlatformSpec,
};

export function isPlatformName(value: unknown): value is PlatformName {
    return typeof value === "string" && (platformNames as readonly string[]).includes(value);
}

export function platformSpec(name: unknown, field = "platform"): PlatformSpec {
    if (!isPlatformName(name)) {
        throw new InputError(field, `must be one of ${platformNames.join(", ")}; got ${JSON.stringify(name)}`);
    }
    return specs[name];
}

/** Loads a platform's client only when a VM is touched (each is its own module). */
export function loadDriverFactory(name: PlatformName): DriverFactory {
    switch (name) {
        case "libvirt":
            return (require("./libvirt/driver") as { createDriver: DriverFactory }).createDriver;
        case "vsphere":
            return (require("./vsphere/driver") as { createDriver: DriverFactory }).createDriver;
        case "proxmox":
            return (require("./proxmox/driver") as { createDriver: DriverFactory }).createDriver;
        case "azure":
            return (require("./azure/driver") as { createDriver: DriverFactory }).createDriver;
        case "custom":
            return (require("./custom/driver") as { createDriver: DriverFactory }).createDriver;
    }
}
