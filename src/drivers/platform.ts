import { Clock } from "../power/clock";
import { Driver } from "../power/driver";

export const platformNames = ["libvirt", "vsphere", "proxmox", "azure", "custom"] as const;
export type PlatformName = (typeof platformNames)[number];

/** What a driver gets besides its target: the clock it must wait on and where to log. */
export interface DriverContext {
    readonly clock: Clock;
    /** Progress for humans (stderr, Pulumi's log). Never pass secrets. */
    readonly log: (message: string) => void;
    /**
     * Registers a secret obtained at run time (a bearer token, a session cookie, the secret
     * half of a token), so it is scrubbed from every error, log and report from then on.
     */
    readonly registerSecret?: (value: string) => void;
    /**
     * The run's wall-clock bound of one platform call (`--call-timeout`). A driver that
     * connects or logs in while it is created bounds that by it.
     * @default the driver's own
     */
    readonly callTimeoutMs?: number;
    /**
     * The platform's shared connection to this VM's endpoint, when the run holds one (a fleet):
     * the driver uses it instead of logging in, and its `close()` leaves it open. Absent for a
     * single-VM run; the driver then opens and closes its own.
     */
    readonly session?: PlatformSession;
}

/**
 * One connection to a management endpoint (a vSphere login and its PropertyCollector, an HTTPS
 * agent and an Azure token, a Proxmox ticket) that the drivers of many VMs share in one run.
 * Opened at the first VM that needs it, closed once when the run ends.
 */
export interface PlatformSession {
    /** Logs out and closes connections. Called once, after every driver using it is closed. */
    close(): Promise<void>;
}

/** What a session gets: the run's clock and log (not one VM's), and where to register secrets. */
export type SessionContext = Omit<DriverContext, "session">;

/**
 * What `driver.ts` of a platform whose VMs can share a connection exports as `sessions`.
 * Platforms without it (libvirt: one virsh per call; custom) open a connection per VM.
 */
export interface SessionSupport<TTarget = unknown, TCredentials = unknown> {
    /**
     * What must be equal for two VMs to share a session: endpoint, identity, TLS settings. It is
     * held in memory only and digested before use; it may contain credentials.
     */
    key(target: TTarget, credentials: TCredentials): string;
    open(target: TTarget, credentials: TCredentials, context: SessionContext): Promise<PlatformSession>;
}

/**
 * The light, always-loaded half of a platform: validates user input before anything touches a
 * VM and says which fields are secret. The driver itself (`driver.ts`) is loaded only when a
 * VM is actually touched, so libvirt users never load Azure's client.
 *
 * `TTarget` is the non-secret part (stored in plaintext state); `TCredentials` the secret part.
 */
export interface PlatformSpec<TTarget = unknown, TCredentials = unknown> {
    readonly name: PlatformName;
    /** Keys of the user's target object that are credentials (kept secret, never logged). */
    readonly secretFields: readonly string[];
    /**
     * Secret fields that hold an object rather than a string (the custom driver's `secrets`):
     * the CLI reads these from the environment as JSON; every other secret is taken literally.
     */
    readonly jsonSecretFields?: readonly string[];
    /** Keys whose change means a different VM: the power resource is replaced, not updated. */
    readonly identityFields: readonly string[];
    /**
     * The most user-data (cloud-init) the platform takes, in bytes of the rendered text, and
     * where that number comes from. Checked when the guest user-data is rendered.
     */
    readonly userDataLimit: { readonly bytes: number; readonly source: string };
    /** Whether `Deallocated` is meaningful on this platform. */
    readonly supportsDeallocate: boolean;
    /**
     * Validates the non-secret part of the target. `field` is the path to report in errors,
     * e.g. `target.libvirt`. Throws InputError/InputErrors naming the exact field.
     */
    parseTarget(raw: unknown, field: string): TTarget;
    /** Validates the secret part. Errors must name the field but never echo its value. */
    parseCredentials(raw: unknown, field: string): TCredentials;
    /** `qemu:///system domain web-1`: for reports and messages. No secrets. */
    describe(target: TTarget): string;
    /** Warnings to show at preview (e.g. a timeout the platform will cut short). */
    warnings?(target: TTarget, gracefulTimeoutMs: number): string[];
}

/** What `driver.ts` of each platform exports as `createDriver`. */
export type DriverFactory<TTarget = unknown, TCredentials = unknown> = (
    target: TTarget,
    credentials: TCredentials,
    context: DriverContext,
) => Driver | Promise<Driver>;
