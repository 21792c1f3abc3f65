import { PlatformName } from "../drivers/platform";

/**
 * The package each platform's graceful shutdown request needs in the guest. libvirt and
 * Proxmox ask through the QEMU guest agent (or ACPI without it); vSphere's guest shutdown needs
 * VMware Tools; Azure's Linux agent is part of its images; a custom driver knows its own.
 */
export const guestAgentPackages: Readonly<Record<PlatformName, readonly string[]>> = {
    libvirt: ["qemu-guest-agent"],
    proxmox: ["qemu-guest-agent"],
    vsphere: ["open-vm-tools"],
    azure: [],
    custom: [],
};

/**
 * Debian and Ubuntu start qemu-guest-agent from a udev rule when its virtio port appears, which
 * happened at boot, before cloud-init installed the package: start it now (without blocking
 * boot, and without failing cloud-init on a VM that has no agent channel).
 */
export const guestAgentStartCommands: Readonly<Partial<Record<string, string>>> = {
    "qemu-guest-agent": "systemctl start --no-block qemu-guest-agent.service || true",
};
