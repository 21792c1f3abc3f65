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
    ) {
        super(`Proxmox VE ${method} ${path} failed with HTTP ${status}: ${pveMessage}${formatParameterErrors(parameterErrors)}`);
        this.name = "ProxmoxApiError";
    }
}

/** No answer: refused, unknown host, timed out, reset. */
export class ProxmoxUnreachableError extends Error {
    constructor(endpoint: string, reason: string) {
        super(`cannot reach Proxmox VE at ${endpoint}: ${reason}`);
        this.name = "ProxmoxUnreachableError";
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
