import { InputError } from "../power/errors";
import { azureSpec } from "./azure/spec";
import { customSpec } from "./custom/spec";
import { libvirtSpec } from "./libvirt/spec";
import { DriverFactory, PlatformName, PlatformSpec, SessionSupport, platformNames } from "./platform";
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

/** What a platform's `driver.ts` exports. */
export interface DriverModule {
    readonly createDriver: DriverFactory;
    /** Present where VMs of one endpoint can share a connection. */
    readonly sessions?: SessionSupport;
}

/** Loads a platform's client only when a VM is touched (each is its own module). */
export function loadDriverModule(name: PlatformName): DriverModule {
    switch (name) {
        case "libvirt":
            return require("./libvirt/driver") as DriverModule;
        case "vsphere":
            return require("./vsphere/driver") as DriverModule;
        case "proxmox":
            return require("./proxmox/driver") as DriverModule;
        case "azure":
            return require("./azure/driver") as DriverModule;
        case "custom":
            return require("./custom/driver") as DriverModule;
    }
}

export function loadDriverFactory(name: PlatformName): DriverFactory {
    return loadDriverModule(name).createDriver;
}
