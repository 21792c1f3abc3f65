import * as pulumi from "@pulumi/pulumi";

/**
 * A vSphere VM, on vCenter or standalone ESXi (6.5 or later), reached over the vim25 SOAP API.
 * The graceful shutdown is VMware Tools' `ShutdownGuest`; the hard fallback is `PowerOffVM_Task`.
 *
 * @example
 * target: { vsphere: {
 *     url: "https://vcenter.example.com/sdk",
 *     username: "svc-power@vsphere.local",
 *     password: config.requireSecret("vspherePassword"),
 *     vm: "DC1/vm/prod/web-1",
 * } }
 */
export interface VsphereTargetArgs {
    /**
     * The SDK endpoint: `https://vcenter.example.com/sdk`. `https://host` and a bare `host[:port]`
     * mean the same. Only https is accepted. Changing it replaces the power resource.
     */
    readonly url: pulumi.Input<string>;
    /**
     * The vSphere user (`svc-power@vsphere.local`, `root` on ESXi). It needs the privileges
     * `VirtualMachine.Interact.PowerOn`, `.PowerOff` and `System.Read`/`System.View`; `ShutdownGuest` needs
     * `VirtualMachine.Interact.PowerOff` too. Stored in plaintext state (it is not a secret).
     */
    readonly username: pulumi.Input<string>;
    /**
     * The user's password. Always stored as a Pulumi secret, never logged or put in errors.
     */
    readonly password: pulumi.Input<string>;
    /**
     * Which VM:
     * - its name (`web-1`), which must be unique (within `datacenter` when given);
     * - an inventory path (`DC1/vm/prod/web-1`; any value with a `/`), relative to
     *   `DC/vm/` when `datacenter` is set;
     * - a UUID (`4211cb7c-…`): the instance UUID, else the BIOS UUID;
     * - a vCenter managed object id (`vm-57`);
     * - or explicit: `name:…`, `path:…`, `uuid:…`, `moid:…` (ESXi ids are numbers: `moid:42`).
     *
     * Changing it replaces the power resource.
     */
    readonly vm: pulumi.Input<string>;
    /**
     * Datacenter name or folder path (`DC1`, `EMEA/DC1`) that scopes the name and UUID search.
     * @default the whole inventory
     */
    readonly datacenter?: pulumi.Input<string>;
    /**
     * Extra CA certificates (PEM) to trust for `url`, e.g. the vCenter's VMCA root
     * (`https://vcenter/certs/download.zip`). Added to Node's default roots.
     * @default Node's default roots (and NODE_EXTRA_CA_CERTS)
     */
    readonly caCert?: pulumi.Input<string>;
    /**
     * Skip TLS certificate verification. Anyone on the network path can then pose as vSphere
     * and read the password: use `caCert` instead where possible. When true, `pulumi preview`
     * warns and the transition report's `vm` says "(TLS not verified)".
     * @default false
     */
    readonly insecure?: pulumi.Input<boolean>;
}

/**
 * A `@pulumi/vsphere` `VirtualMachine`, or anything shaped like it: its managed object id
 * (`moid`, exact on vCenter and ESXi) or, failing that, its BIOS `uuid`.
 */
export type VsphereVirtualMachineLike = { readonly moid: pulumi.Input<string> } | { readonly uuid: pulumi.Input<string> };

/** How to reach vSphere: everything of {@link VsphereTargetArgs} except which VM. */
export type VsphereConnectionArgs = Omit<VsphereTargetArgs, "vm">;

/**
 * Builds the target for a VM created with `@pulumi/vsphere` in the same program, from its
 * outputs, so the power resource depends on the VM: created after it, shut down before the VM's
 * delete. This package does not load `@pulumi/vsphere`.
 *
 * @example
 * const vm = new vsphere.VirtualMachine("web", { ... });
 * new GracefulVm("web", { target: { vsphere: vsphereTargetFromVm(vm, { url, username, password }) } });
 */
export function vsphereTargetFromVm(vm: VsphereVirtualMachineLike, connection: VsphereConnectionArgs): VsphereTargetArgs {
    const selector =
        "moid" in vm
            ? pulumi.output(vm.moid).apply((moid) => `moid:${requireId(moid, "moid")}`)
            : pulumi.output(vm.uuid).apply((uuid) => `uuid:${requireId(uuid, "uuid")}`);
    return { ...connection, vm: selector };
}

function requireId(value: string | undefined, output: string): string {
    if (typeof value !== "string" || value === "") {
        throw new Error(`target.vsphere.vm: the VirtualMachine's ${output} output is empty; pass a created vsphere.VirtualMachine`);
    }
    return value;
}
