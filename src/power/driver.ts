import { ObservedPowerState } from "./states";

/** A power state as read from the platform, with the platform's own words for why. */
export interface ObservedState {
    readonly state: ObservedPowerState;
    /**
     * The platform's detail, kept verbatim for reports: libvirt's reason (`shutdown`,
     * `destroyed`), Azure's status code (`PowerState/stopped`), vSphere's `poweredOff`.
     */
    readonly detail?: string;
    /**
     * Who stopped a VM that is off, when the platform can tell: `guest` (its own shutdown:
     * libvirt reason `shutdown`, a finished guest-shutdown task) or `external` (a hard
     * power-off by anyone: libvirt `destroyed`, a vSphere PowerOff task, a Proxmox `qmstop`).
     * Undefined when unknown. Reports are only called graceful when this is not `external`.
     */
    readonly stoppedBy?: "guest" | "external";
}

/** Whether the guest can be asked to shut down (VMware Tools, QEMU guest agent, ...). */
export interface GuestToolsStatus {
    readonly available: boolean;
    /** What the platform said, e.g. `guestToolsNotRunning`, `agent not connected`. */
    readonly detail: string;
}

/** A graceful-shutdown request that reached the platform. */
export interface GuestShutdownRequest {
    /** How the guest was asked: `acpi`, `agent`, `vmware-tools`, `azure-integrated`, `pve-shutdown`. */
    readonly method: string;
    readonly detail?: string;
}

/**
 * One VM on one platform. Each platform implements this once; the sequence in `transition.ts`
 * is the only caller. Times (`deadline`) are on the injected clock's scale (ms).
 *
 * Drivers must not log or throw credentials.
 */
export interface Driver {
    /** `libvirt`, `vsphere`, `proxmox`, `azure`, ... */
    readonly platform: string;
    /** Who the VM is, for reports and messages (`qemu:///system domain web-1`). No secrets. */
    readonly vmDescription: string;

    readState(): Promise<ObservedState>;

    /**
     * Whether a graceful request can work now. Omit it where the platform can always ask
     * (ACPI power button); the sequence then goes straight to `requestGuestShutdown`.
     */
    checkGuestTools?(): Promise<GuestToolsStatus>;

    /**
     * Delivers a graceful-shutdown request and returns as soon as it is delivered, not when the
     * VM is off. `deadline` bounds platforms whose request takes its own timeout (Proxmox,
     * Azure). Throws `GracefulShutdownUnavailableError` when the request cannot be delivered.
     */
    requestGuestShutdown(deadline: number): Promise<GuestShutdownRequest>;

    /** Powers off without asking the guest. */
    powerOffHard(): Promise<void>;

    /** Powers on, or resumes a paused/suspended VM. */
    powerOn(): Promise<void>;

    /** Releases the VM's compute (Azure). Present only where the platform has it. */
    deallocate?(): Promise<void>;

    /**
     * Resolves with the observed state once it is one of `targets`, or with the latest
     * observed state when `deadline` passes. Never throws because of the deadline. Use the
     * platform's events where it has them, polling otherwise: this is the only place that waits.
     * May throw GracefulShutdownUnavailableError (once) when it learns that the graceful request
     * failed after it was accepted; the sequence then falls back at once. Transient failures
     * should be waited out, or thrown as TransientError for the sequence to wait out.
     */
    waitForState(targets: readonly ObservedPowerState[], deadline: number): Promise<ObservedState>;

    /** Resolves true once the guest agent answers, false at `deadline`. */
    waitForGuestAgent?(deadline: number): Promise<boolean>;

    /** Logs out, closes connections, stops watchers. Safe to call twice. */
    close(): Promise<void>;
}
