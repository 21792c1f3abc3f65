import { X509Certificate, createHash } from "crypto";
import * as fs from "fs";
import * as https from "https";
import type { Duplex } from "stream";
import * as tls from "tls";
import { InputError } from "../../power/errors";

/**
 * How every HTTPS client of ours (vSphere, Proxmox, Azure ARM and its token endpoint) trusts a
 * server. One rule, the same on every platform:
 *
 * - Trusted roots are Node's bundled roots, plus the file in `NODE_EXTRA_CA_CERTS` (if set),
 *   plus the target's `caCert`. A `caCert` adds to the roots; it never replaces them.
 * - With `fingerprint`, the server's leaf certificate must have that SHA-256 fingerprint
 *   instead (the chain is not checked: that is what the pin replaces); nothing is sent before
 *   it matched.
 * - Verification is on unless the user asked for `insecure`, which the caller reports.
 *   `rejectUnauthorized` is always set explicitly, so `NODE_TLS_REJECT_UNAUTHORIZED=0` in the
 *   environment cannot turn verification off behind the user's back.
 */
export interface TlsTrust {
    /** Extra PEM CA certificates, validated by {@link parseCaCert}. */
    readonly caCert?: string;
    /** `AA:BB:...` SHA-256 fingerprint of the server's leaf certificate, upper case. */
    readonly fingerprint?: string;
    /** Skip verification. Only when the user asked for it. @default false */
    readonly insecure?: boolean;
}

export interface AgentOptions {
    /** Keep connections open between requests. @default true */
    readonly keepAlive?: boolean;
    /** @default 4 */
    readonly maxSockets?: number;
    /** How long a TLS handshake may take when pinning (HTTP's own timeout starts later). @default 30000 */
    readonly handshakeTimeoutMs?: number;
    /** Makes the error for a pin mismatch (the platform's own error type). */
    readonly pinMismatch?: (presented: string | undefined, pinned: string) => Error;
}

/**
 * The secure contexts built so far, one per CA bundle. Building one parses ~145 roots; a fleet
 * of VMs behind one vCenter shares a single context instead of one per connection.
 */
const contexts = new Map<string, tls.SecureContext>();

/** How many secure contexts were built (tests and benchmarks check the cache). */
export function secureContextsBuilt(): number {
    return contexts.size;
}

/** The secure context trusting Node's roots, NODE_EXTRA_CA_CERTS and `caCert`; built once per bundle. */
export function secureContextFor(caCert: string): tls.SecureContext {
    const extra = extraCaCerts();
    const key = createHash("sha256").update(caCert).update("\0").update(extra.join("\n")).digest("hex");
    let context = contexts.get(key);
    if (!context) {
        context = tls.createSecureContext({ ca: [...tls.rootCertificates, ...extra, caCert] });
        contexts.set(key, context);
    }
    return context;
}

/**
 * The TLS options for one endpoint under `trust`, to spread into `https.request` or an
 * `https.Agent`. `rejectUnauthorized` is always present.
 */
export function tlsOptionsFor(trust: TlsTrust): tls.ConnectionOptions {
    if (trust.insecure) return { rejectUnauthorized: false };
    return {
        rejectUnauthorized: true,
        ...(trust.caCert ? { secureContext: secureContextFor(trust.caCert) } : {}),
    };
}

/** An https.Agent for one endpoint under `trust` (pinned when `trust.fingerprint` is set). */
export function httpsAgentFor(trust: TlsTrust, options: AgentOptions = {}): https.Agent {
    const agentOptions: https.AgentOptions = {
        keepAlive: options.keepAlive ?? true,
        maxSockets: options.maxSockets ?? 4,
    };
    if (trust.fingerprint && !trust.insecure) {
        return new PinnedAgent(
            trust.fingerprint.toUpperCase(),
            options.handshakeTimeoutMs ?? 30_000,
            options.pinMismatch ?? defaultPinMismatch,
            agentOptions,
        );
    }
    return new https.Agent({ ...agentOptions, ...tlsOptionsFor(trust) });
}

/** Whether `code` (a Node TLS error code) means the certificate was not trusted or did not match the name. */
export function isTlsVerificationCode(code: string | undefined): boolean {
    return code !== undefined && tlsVerificationCodes.has(code);
}

const tlsVerificationCodes = new Set([
    "DEPTH_ZERO_SELF_SIGNED_CERT",
    "SELF_SIGNED_CERT_IN_CHAIN",
    "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
    "UNABLE_TO_GET_ISSUER_CERT",
    "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
    "CERT_HAS_EXPIRED",
    "CERT_NOT_YET_VALID",
    "CERT_UNTRUSTED",
    "ERR_TLS_CERT_ALTNAME_INVALID",
]);

function defaultPinMismatch(presented: string | undefined, pinned: string): Error {
    const error = new Error(`the server's SHA-256 fingerprint ${presented ?? "(none)"} does not match the pinned ${pinned}`);
    error.name = "TlsPinMismatchError";
    return error;
}

/**
 * Pins the leaf certificate by SHA-256 fingerprint. The chain is not verified (the pin replaces
 * it), but no request byte, and so no credential, is written before the fingerprint matched:
 * the socket is handed to HTTP only after the check.
 */
class PinnedAgent extends https.Agent {
    constructor(
        private readonly fingerprint: string,
        private readonly handshakeTimeoutMs: number,
        private readonly mismatch: (presented: string | undefined, pinned: string) => Error,
        options: https.AgentOptions,
    ) {
        super(options);
    }

    override createConnection(
        options: https.RequestOptions,
        callback?: (err: Error | null, stream: Duplex) => void,
    ): Duplex | null | undefined {
        // The chain is deliberately not checked here; the fingerprint below is.
        const socket = tls.connect({ ...(options as tls.ConnectionOptions), rejectUnauthorized: false });
        const done = callback ?? (() => undefined);
        const onError = (e: Error): void => done(e, socket);
        socket.once("error", onError);
        socket.setTimeout(this.handshakeTimeoutMs, () => {
            const error = new Error(`no TLS handshake within ${this.handshakeTimeoutMs} ms`) as NodeJS.ErrnoException;
            error.code = "ETIMEDOUT";
            socket.destroy(error);
        });
        socket.once("secureConnect", () => {
            socket.setTimeout(0);
            socket.removeListener("error", onError);
            const presented = socket.getPeerCertificate().fingerprint256?.toUpperCase();
            if (presented !== this.fingerprint) {
                socket.destroy();
                done(this.mismatch(presented, this.fingerprint), socket);
                return;
            }
            done(null, socket);
        });
        return undefined;
    }
}

/** Node's explicit `ca` replaces its defaults, NODE_EXTRA_CA_CERTS included: read it to keep it. */
function extraCaCerts(): string[] {
    const file = process.env.NODE_EXTRA_CA_CERTS;
    if (!file) return [];
    try {
        return [fs.readFileSync(file, "utf8")];
    } catch {
        return [];
    }
}

const pemBlock = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
const maxCaCertLength = 1024 * 1024;

/**
 * The one `caCert` check: PEM text made only of certificates, each of which parses as X.509.
 * A private key (or anything else) is refused: `caCert` is stored in plaintext state.
 * Returns the value unchanged; `field` is e.g. `target.vsphere.caCert`.
 */
export function parseCaCert(value: unknown, field: string): string | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "string") throw new InputError(field, `must be PEM text (a string), got ${typeof value}`);
    if (value.length > maxCaCertLength) throw new InputError(field, `must be at most ${maxCaCertLength} characters`);
    if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(value)) {
        throw new InputError(field, "holds a private key; give only CA certificates (a key would be stored in plaintext state)");
    }
    const blocks = [...value.matchAll(pemBlock)];
    if (blocks.length === 0) {
        throw new InputError(field, "must be one or more PEM certificates (-----BEGIN CERTIFICATE----- ...)");
    }
    const outside = value.replace(pemBlock, "");
    if (outside.includes("-----")) throw new InputError(field, "has a PEM block that is not closed or does not match its END line");
    blocks.forEach((block, index) => {
        if (block[1] !== "CERTIFICATE") {
            throw new InputError(field, `block ${index + 1} is a ${block[1]}, not a CERTIFICATE; give only CA certificates`);
        }
        try {
            new X509Certificate(block[0]);
        } catch (e) {
            throw new InputError(field, `certificate ${index + 1} cannot be read as X.509`, { cause: e });
        }
    });
    return value;
}

const fingerprintPattern = /^([0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}$/;

/** A SHA-256 certificate fingerprint `AA:BB:...` (32 hex pairs), returned upper case. */
export function parseFingerprint(value: unknown, field: string): string | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "string" || !fingerprintPattern.test(value)) {
        throw new InputError(field, "must be a SHA-256 certificate fingerprint: 32 hex pairs separated by colons (AA:BB:...)");
    }
    return value.toUpperCase();
}

/** The cross-field rule of every platform: `insecure` cannot be combined with what verifies. */
export function checkTrustCombination(trust: TlsTrust, field: string): void {
    if (trust.insecure && (trust.caCert !== undefined || trust.fingerprint !== undefined)) {
        throw new InputError(
            `${field}.insecure`,
            "cannot be combined with caCert or fingerprint: these verify the certificate, insecure skips verification",
        );
    }
}
