/**
 * Which PVE privilege each call of this driver needs, per Proxmox VE major version. PVE 9
 * removed `VM.Monitor` and split guest-agent access into `VM.GuestAgent.*`, so the agent ping
 * needs a different privilege there (pve-access-control's privilege list; qemu-server's
 * agent API permissions).
 */

/** What the driver does, and the privilege on `path` it needs for it. */
export interface PrivilegeNeed {
    readonly privilege: string;
    /** The ACL path: `/vms/<vmid>` or `/nodes/<node>`. */
    readonly path: "vm" | "node";
    readonly purpose: string;
    /** Only needed for some targets or options. */
    readonly optional?: boolean;
}

/** The agent privilege changed in PVE 9; earlier majors use the PVE 8 list. */
export function privilegesFor(major: number | undefined): readonly PrivilegeNeed[] {
    const agent = major !== undefined && major >= 9 ? "VM.GuestAgent.Audit" : "VM.Monitor";
    return [
        { privilege: "VM.Audit", path: "vm", purpose: "read the VM's status" },
        { privilege: "VM.PowerMgmt", path: "vm", purpose: "start, shut down and stop the VM" },
        { privilege: agent, path: "vm", purpose: "ping the guest agent (waitForGuestAgent)", optional: true },
        {
            privilege: "Sys.Modify",
            path: "node",
            purpose: "let a hard stop abort a shutdown task started by someone else (overrule-shutdown)",
            optional: true,
        },
    ];
}

/** `VM.Audit, VM.PowerMgmt on /vms/105; VM.Monitor on /vms/105 for ...` for messages and docs. */
export function describePrivileges(major: number | undefined, vmId: number, node: string): string {
    const where = (need: PrivilegeNeed): string => (need.path === "vm" ? `/vms/${vmId}` : `/nodes/${node}`);
    const required = privilegesFor(major).filter((n) => !n.optional);
    const optional = privilegesFor(major).filter((n) => n.optional);
    const version = major === undefined ? "Proxmox VE (version unknown; PVE 8 names assumed)" : `Proxmox VE ${major}`;
    return (
        `${version} needs ${required.map((n) => n.privilege).join(" and ")} on /vms/${vmId}` +
        `; optionally ${optional.map((n) => `${n.privilege} on ${where(n)} to ${n.purpose}`).join(", and ")}`
    );
}
