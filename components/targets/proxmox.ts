import * as pulumi from "@pulumi/pulumi";

/**
 * A QEMU VM on Proxmox VE, reached over the PVE REST API (`https://<node>:8006/api2/json`)
 * with an API token. Graceful shutdown is PVE's own `status/shutdown`: a `guest-shutdown`
 * through the QEMU guest agent when the agent is enabled in the VM config and answers, an ACPI
 * power-button press otherwise; the hard fallback is `status/stop` with `overrule-shutdown`.
 *
 * The token needs `VM.Audit` and `VM.PowerMgmt` on `/vms/<vmid>`, and for `waitForGuestAgent`
 * also `VM.Monitor` (PVE 8) or `VM.GuestAgent.Audit` (PVE 9); with privilege separation on,
 * grant them to the token too. HA-managed VMs are stopped through the HA manager. See
 * docs/proxmox.md for the privileges per version.
 *
 * @example
 * target: {
 *     proxmox: {
 *         endpoint: "https://pve1.example.com:8006",
 *         apiToken: config.requireSecret("pveToken"),
 *         node: "pve1",
 *         vmId: 105,
 *         fingerprint: "AB:CD:...",
 *     },
 * }
 */
export interface ProxmoxTargetArgs {
    /**
     * The API endpoint: `https://host:8006` (a trailing `/` or `/api2/json` is accepted). Any
     * cluster node works: PVE proxies VM calls to the VM's node. Changing it means a different
     * VM: the power resource is replaced.
     */
    readonly endpoint: pulumi.Input<string>;
    /**
     * The API token, `USER@REALM!TOKENID=SECRET` (e.g. `automation@pve!pulumi=<uuid>`). Kept
     * secret in state and never logged; pass it from `config.requireSecret`.
     */
    readonly apiToken: pulumi.Input<string>;
    /**
     * The cluster node the VM lives on, as `pvesh get /nodes` names it. Changing it means a
     * different VM: the power resource is replaced.
     */
    readonly node: pulumi.Input<string>;
    /**
     * The VM's id (100 to 999999999). Changing it means a different VM: the power resource is
     * replaced.
     */
    readonly vmId: pulumi.Input<number>;
    /**
     * PEM text of the CA that signed the node certificates (`/etc/pve/pve-root-ca.pem` on any
     * node for the cluster's own CA). The host name in `endpoint` must match the certificate.
     * @default the system's trusted CAs
     */
    readonly caCert?: pulumi.Input<string>;
    /**
     * SHA-256 fingerprint of the node's certificate, `AA:BB:...` (the node's
     * System > Certificates page, or `openssl x509 -noout -fingerprint -sha256`). Pins that
     * certificate instead of verifying a chain: the usual choice for self-signed nodes. The
     * token is only sent after the fingerprint matched.
     * @default no pinning
     */
    readonly fingerprint?: pulumi.Input<string>;
    /**
     * Skip certificate verification altogether. Only for labs: anyone on the path can then read
     * the token. Cannot be combined with `caCert` or `fingerprint`.
     * @default false
     */
    readonly insecure?: pulumi.Input<boolean>;
}

/**
 * A `proxmoxve.VmLegacy` (the `proxmox_virtual_environment_vm` resource of
 * `@muhlba91/pulumi-proxmoxve`), or anything shaped like it.
 */
export interface ProxmoxVeLegacyVmLike {
    readonly nodeName: pulumi.Input<string>;
    readonly vmId: pulumi.Input<number>;
}

/** A `proxmoxve.Vm` (the newer resource of `@muhlba91/pulumi-proxmoxve`), whose VM id is `resourceId`. */
export interface ProxmoxVeVmLike {
    readonly nodeName: pulumi.Input<string>;
    readonly resourceId: pulumi.Input<string>;
}

/** How to reach the cluster: everything of {@link ProxmoxTargetArgs} except which VM. */
export type ProxmoxConnectionArgs = Omit<ProxmoxTargetArgs, "node" | "vmId">;

/**
 * Builds the target for a VM created with `@muhlba91/pulumi-proxmoxve` in the same program,
 * from its outputs, so the power resource follows the VM (created after it, shut down before
 * it is deleted). Takes `VmLegacy` or `Vm`; this package does not load the provider package.
 *
 * @example
 * const vm = new proxmoxve.VmLegacy("web", { nodeName: "pve1", ... });
 * new GracefulVm("web", { target: { proxmox: proxmoxTargetFromVm(vm, connection) }, powerState: "OffGraceful" });
 */
export function proxmoxTargetFromVm(vm: ProxmoxVeLegacyVmLike | ProxmoxVeVmLike, connection: ProxmoxConnectionArgs): ProxmoxTargetArgs {
    const vmId = "vmId" in vm ? vm.vmId : pulumi.output(vm.resourceId).apply(numericVmId);
    return { ...connection, node: vm.nodeName, vmId };
}

function numericVmId(resourceId: string): number {
    if (!/^\d+$/.test(resourceId)) {
        throw new Error(`target.proxmox.vmId: the VM's resourceId ${JSON.stringify(resourceId)} is not a numeric Proxmox VM id`);
    }
    return Number(resourceId);
}
