import * as pulumi from "@pulumi/pulumi";
import { Duration } from "../../src/power/duration";

/**
 * A libvirt domain (KVM/QEMU, or any hypervisor libvirt drives), reached with `virsh` on the
 * machine that runs `pulumi up`. libvirt needs no credentials here: the URI's transport
 * authenticates (local socket permissions, SSH keys for `qemu+ssh://`, a SASL auth file).
 *
 * @example
 * target: { libvirt: { uri: "qemu+ssh://admin@kvm-1/system", domain: "web-1" } }
 */
export interface LibvirtTargetArgs {
    /**
     * libvirt connection URI: `qemu:///system`, `qemu:///session`,
     * `qemu+ssh://user@host/system`, `qemu:///system?socket=/path/to/libvirt-sock`.
     * Changing it means a different VM: the power resource is replaced.
     * @default "qemu:///system"
     */
    readonly uri?: pulumi.Input<string>;
    /**
     * The domain's name (as `virsh list --all` shows it) or UUID. Changing it means a
     * different VM: the power resource is replaced.
     */
    readonly domain: pulumi.Input<string>;
    /**
     * How the guest is asked to shut down. `acpi` presses the virtual power button (the guest
     * needs acpid or systemd-logind); `agent` asks the QEMU guest agent (the domain needs an
     * `org.qemu.guest_agent.0` channel and qemu-ga running), and powers off hard at once if it
     * is not connected; `auto` uses the agent when it answers a ping within 2 s and the power
     * button otherwise.
     * @default "auto"
     */
    readonly shutdownMode?: pulumi.Input<"auto" | "acpi" | "agent">;
    /**
     * Upper bound for one `virsh` call (a hung daemon or SSH link fails instead of hanging
     * `pulumi up`). Does not limit the graceful shutdown itself: that is
     * `gracefulShutdownTimeout`.
     * @default "30s"
     */
    readonly commandTimeout?: pulumi.Input<Duration>;
    /**
     * Allow a URI that skips a verification: the unencrypted `tcp` transport, `no_verify=1`,
     * `known_hosts_verify=ignore` or `tls_priority`. Reported at preview and in every report.
     * A URI that makes libvirt run a program (`ext`, `command=`, `netcat=`) is refused regardless.
     * @default false
     */
    readonly insecure?: pulumi.Input<boolean>;
}

/** A `@pulumi/libvirt` `Domain`, or anything shaped like it. */
export interface LibvirtDomainLike {
    /** The domain's name, as libvirt knows it. */
    readonly name: pulumi.Input<string>;
}

/** How to reach libvirt: everything of {@link LibvirtTargetArgs} except which domain. */
export type LibvirtConnectionArgs = Omit<LibvirtTargetArgs, "domain">;

/**
 * Builds the target for a domain created with `@pulumi/libvirt` in the same program, from its
 * `name` output, so the power resource depends on the domain: created after it, shut down before
 * the domain's delete (which itself would destroy it hard). Use the same URI as the libvirt
 * provider's `uri`. This package does not load `@pulumi/libvirt`.
 *
 * @example
 * const domain = new libvirt.Domain("web", { name: "web-1", ... });
 * new GracefulVm("web", { target: { libvirt: libvirtTargetFromDomain(domain, { uri: "qemu+ssh://kvm-1/system" }) } });
 */
export function libvirtTargetFromDomain(domain: LibvirtDomainLike, connection: LibvirtConnectionArgs = {}): LibvirtTargetArgs {
    return { ...connection, domain: domain.name };
}
