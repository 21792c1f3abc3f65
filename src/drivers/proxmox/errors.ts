import { AuthenticationError, TransientError } from "../../power/errors";

/**
 * Errors the Proxmox client and driver raise besides the core's. None carries the API token:
 * messages are built from the endpoint, the path and what the server said.
 */

/** The API answered with an error status (400 parameter errors, 500 handler errors, 501, 595). */
export class ProxmoxApiError extends Error {
    constructor(
        public readonly method: string,
        public readonly path: string,
        public readonly status: number,
        /** The server's message: the body's `message`, else the HTTP reason phrase. */
        public readonly pveMessage: string,
        /** Per-parameter messages of a 400 `Parameter verification failed.` */
        public readonly parameterErrors?: Readonly<Record<string, string>>,
        /** How long the server asked us to wait (`Retry-After` on a 429 or 503), in ms. */
        public readonly retryAfterMs?: number,
    ) {
        super(`Proxmox VE ${method} ${path} failed with HTTP ${status}: ${pveMessage}${formatParameterErrors(parameterErrors)}`);
        this.name = "ProxmoxApiError";
    }
}

/** No answer: refused, unknown host, timed out, reset. Transient: the sequence waits it out within its deadline. */
export class ProxmoxUnreachableError extends TransientError {
    /** The network error code (`ECONNRESET`, `ECONNREFUSED`, ...), when there was one. */
    readonly code?: string;
    /**
     * The error hit a kept-alive socket the server had already closed: the request never
     * reached it, so even a POST may be sent again.
     */
    readonly reusedSocket: boolean;

    constructor(endpoint: string, reason: string, network: { readonly code?: string; readonly reusedSocket?: boolean } = {}) {
        super(`cannot reach Proxmox VE at ${endpoint}: ${reason}`);
        this.name = "ProxmoxUnreachableError";
        if (network.code) this.code = network.code;
        this.reusedSocket = network.reusedSocket ?? false;
    }
}

/** The server's certificate failed verification or did not match the pinned fingerprint. */
export class ProxmoxTlsError extends Error {
    constructor(endpoint: string, reason: string) {
        super(
            `the TLS certificate of ${endpoint} was not accepted: ${reason}. Set caCert to the cluster CA ` +
                `(/etc/pve/pve-root-ca.pem on a node), or fingerprint to the node certificate's SHA-256 fingerprint; ` +
                `insecure: true skips verification`,
        );
        this.name = "ProxmoxTlsError";
    }
}

/** The VM holds a config lock (`backup`, `migrate`, `snapshot`, ...), so PVE refuses power changes. */
export class ProxmoxVmLockedError extends Error {
    constructor(
        vm: string,
        public readonly lock: string,
    ) {
        super(
            `${vm} is locked (${lock}); Proxmox refuses power changes until the ${lock} operation finishes or the lock is removed (qm unlock)`,
        );
        this.name = "ProxmoxVmLockedError";
    }
}

/** A worker task (qmshutdown, qmstop, qmstart, ...) ended with an error. */
export class ProxmoxTaskError extends Error {
    constructor(
        public readonly upid: string,
        public readonly taskType: string,
        /** The task's exit status: the text of its `TASK ERROR:` line. */
        public readonly exitStatus: string,
        logTail: readonly string[] = [],
    ) {
        super(`Proxmox task ${taskType} failed: ${exitStatus}${logTail.length > 0 ? ` (log: ${logTail.join(" | ")})` : ""} [${upid}]`);
        this.name = "ProxmoxTaskError";
    }
}

function formatParameterErrors(errors: Readonly<Record<string, string>> | undefined): string {
    if (!errors) return "";
    const entries = Object.entries(errors);
    return entries.length === 0 ? "" : ` (${entries.map(([k, v]) => `${k}: ${v.trim()}`).join("; ")})`;
}

/** `VM is locked (backup)` in a die message or task exit status; returns the lock name. */
export function lockFromMessage(message: string): string | undefined {
    return /VM is locked \(([^)]+)\)/.exec(message)?.[1];
}

/** A VM whose config file is missing: on `status/current` (500) or inside a worker task. */
export function isMissingVmMessage(message: string): boolean {
    return /Configuration file '[^']*' does not exist|unable to find configuration file for VM/.test(message);
}

/**
 * HTTP 403: PVE names the ACL path and the privilege it checked,
 * `Permission check failed (/vms/105, VM.PowerMgmt)`. The driver adds what the token needs on
 * the PVE version at hand.
 */
export class ProxmoxPermissionError extends AuthenticationError {
    constructor(
        message: string,
        /** The privilege PVE checked, when its message names one. */
        public readonly privilege?: string,
        /** The ACL path PVE checked (`/vms/105`, `/nodes/pve1`). */
        public readonly aclPath?: string,
        options?: { cause?: unknown },
    ) {
        super(message);
        if (options?.cause !== undefined) this.cause = options.cause;
        this.name = "ProxmoxPermissionError";
    }
}

/** `Permission check failed (/vms/105, VM.PowerMgmt)` → path and privilege. */
export function parsePermissionMessage(message: string): { aclPath: string; privilege: string } | undefined {
    const match = /Permission check failed \(([^,]+),\s*([^)]+)\)/.exec(message);
    return match ? { aclPath: match[1].trim(), privilege: match[2].trim() } : undefined;
}

/**
 * The API node we talk to could not reach the VM's node: pveproxy answers 595 (no connection)
 * or 596 (the connection broke or timed out) with an empty body and the error as reason phrase.
 */
export class ProxmoxNodeDownError extends ProxmoxApiError {
    constructor(
        vm: string,
        public readonly node: string,
        cause: ProxmoxApiError,
    ) {
        super(cause.method, cause.path, cause.status, cause.pveMessage);
        this.message =
            `${vm}: node ${node} does not answer (HTTP ${cause.status}: ${cause.pveMessage}, from the cluster's proxy); ` +
            `its VMs cannot be read or changed until it is back, or until HA recovers them on another node`;
        this.cause = cause;
        this.name = "ProxmoxNodeDownError";
    }
}

/** 595/596: pveproxy could not reach the node it forwards to. */
export function isNodeUnreachableStatus(status: number): boolean {
    return status === 595 || status === 596;
}

/**
 * A hard stop that could not take the VM's config lock: a shutdown task of someone else (the
 * web UI, another token, a script) holds it, and `overrule-shutdown` aborts only the caller's
 * own tasks unless it has Sys.Modify.
 */
export class ProxmoxStopBlockedError extends Error {
    constructor(vm: string, node: string, options: { cause: ProxmoxTaskError }) {
        super(
            `${vm}: the stop could not take the VM's config lock (${options.cause.exitStatus}). A shutdown task started by ` +
                `another user or token holds it, and overrule-shutdown aborts only this token's own shutdown tasks; ` +
                `Sys.Modify on /nodes/${node} would let it abort that one too`,
            options,
        );
        this.name = "ProxmoxStopBlockedError";
    }
}

/** An HA resource that the HA manager did not stop within its timeout plus its rounds. */
export class ProxmoxHaStopError extends Error {
    constructor(vm: string, haState: string, observed: string) {
        super(
            `${vm} is HA-managed and still ${observed} (ha.state ${haState}) after the HA manager's shutdown timeout, ` +
                `its forceStop and its rounds; check ha-manager status and the node's pve-ha-lrm log`,
        );
        this.name = "ProxmoxHaStopError";
    }
}
