import { Clock } from "../../power/clock";
import { AuthenticationError } from "../../power/errors";
import { PlatformSession, SessionContext, SessionSupport } from "../platform";
import { ProxmoxClient } from "./client";
import { ProxmoxConnection } from "./connection";
import { ProxmoxTlsError } from "./errors";
import { ProxmoxCredentials, ProxmoxTarget } from "./spec";

/** One `GET /cluster/resources?type=vm` entry, the fields the lookup by VM id reads. */
export interface ClusterResource {
    readonly type: string;
    readonly vmid?: number;
    readonly node?: string;
    readonly status?: string;
    readonly hastate?: string;
}

/** One `GET /nodes/{node}/qemu` entry (without `full`: read from the node's pid files, no QMP). */
export interface NodeVmEntry {
    readonly vmid: number;
    /** `running` iff the QEMU process is alive. */
    readonly status?: string;
    readonly lock?: string;
}

/** A listing of one node's VMs, by VM id, and when it was asked for. */
interface NodeListing {
    readonly startedAt: number;
    readonly value: Promise<ReadonlyMap<number, NodeVmEntry>>;
}

/** Knobs for tests and benchmarks; the defaults suit a real cluster. */
export interface ProxmoxSessionOptions {
    /** Connections to the endpoint shared by all its VMs. @default 8 */
    readonly maxSockets?: number;
    /** One try of the session's own calls (the token check, the cluster listing). @default 10000 */
    readonly requestTimeoutMs?: number;
    /** How long a cluster listing answers every VM that asks. @default 2000 */
    readonly resourcesMaxAgeMs?: number;
    /**
     * How often VMs waiting on one node read that node's VM list (one request for all of
     * them, instead of one `status/current` per VM per poll). @default 250
     */
    readonly nodePollMs?: number;
}

export function findVm(resources: readonly ClusterResource[], vmId: number): ClusterResource | undefined {
    return resources.find((r) => r.type === "qemu" && r.vmid === vmId);
}

/** The PVE release `/version` names (every token may read it). */
export interface PveVersion {
    readonly major?: number;
}

/**
 * What every VM of one Proxmox endpoint and API token shares in a fleet run: one HTTPS agent
 * (TLS context built once per CA bundle, connections kept alive and reused by all VMs), the
 * token checked once when the session opens, the PVE version read once, and the cluster
 * listing that finds where a VM lives now (after a migration or an HA recovery) read once for
 * all VMs that need it at about the same time. VMs waiting for a state change share one poll
 * per node: the node's VM list (`GET /nodes/{node}/qemu`, answered from the node's pid files,
 * current unlike the cluster listing, which pvestatd refreshes every 10 s or so), and a VM
 * reads its own `status/current` only once the list shows the change it waits for.
 *
 * API tokens need no login, so there is nothing to renew: a token refused mid-run fails every
 * later request of the session at once (see ProxmoxConnection). Ticket logins
 * (`/access/ticket`) are not offered: the package takes only API tokens.
 */
export class ProxmoxSession implements PlatformSession {
    readonly connection: ProxmoxConnection;
    private readonly client: ProxmoxClient;
    private readonly checkClient: ProxmoxClient;
    private readonly resourcesMaxAgeMs: number;
    /** The latest cluster listing: when it was asked for, and its answer. */
    private listing?: { readonly startedAt: number; readonly value: Promise<ClusterResource[]> };
    private versionRead?: Promise<PveVersion>;
    /** Cluster listings read so far (tests check that VMs share them). */
    resourceReads = 0;
    /** How often waiting VMs poll the node list. */
    readonly nodePollMs: number;
    private readonly nodeListings = new Map<string, NodeListing>();

    constructor(
        target: ProxmoxTarget,
        credentials: ProxmoxCredentials,
        private readonly clock: Clock,
        log: (message: string) => void,
        options: ProxmoxSessionOptions = {},
    ) {
        const requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
        this.connection = new ProxmoxConnection({
            endpoint: target.endpoint,
            apiToken: credentials.apiToken,
            insecure: target.insecure,
            caCert: target.caCert,
            fingerprint: target.fingerprint,
            maxSockets: options.maxSockets ?? 8,
            handshakeTimeoutMs: requestTimeoutMs,
        });
        this.client = new ProxmoxClient(this.connection, { clock, log, requestTimeoutMs, retries: 1 });
        // PVE answers a refused token after 3 s; an endpoint slower than this to answer the
        // check is not a reason to hold up the run (the check is then skipped, not failed).
        this.checkClient = new ProxmoxClient(this.connection, {
            clock,
            log,
            requestTimeoutMs: Math.min(requestTimeoutMs, 5_000),
            retries: 1,
        });
        this.resourcesMaxAgeMs = options.resourcesMaxAgeMs ?? 2_000;
        this.nodePollMs = options.nodePollMs ?? 250;
    }

    /**
     * The VMs on `node`, from a list asked for at or after `notBefore`: one request (in flight
     * or done) answers every VM waiting on the node that asks meanwhile.
     */
    nodeVms(node: string, notBefore: number): Promise<ReadonlyMap<number, NodeVmEntry>> {
        const current = this.nodeListings.get(node);
        if (current && current.startedAt >= notBefore) return current.value;
        const value = this.client
            .get<NodeVmEntry[] | null>(`/nodes/${encodeURIComponent(node)}/qemu`)
            .then((entries) => new Map((entries ?? []).map((e) => [Number(e.vmid), e])));
        const listing = { startedAt: this.clock.now(), value };
        this.nodeListings.set(node, listing);
        value.catch(() => {
            if (this.nodeListings.get(node) === listing) this.nodeListings.delete(node);
        });
        return value;
    }

    /**
     * Reads `/version` once: it checks the token before any VM is touched (a revoked token
     * then fails every VM of the endpoint with one clear error and one delayed refusal, not
     * one per VM), and gives the release for permission hints. Only a refused token or an
     * untrusted certificate fail the session; a slow or restarting endpoint leaves each VM to
     * its own bounded, retried calls.
     */
    async check(log: (message: string) => void): Promise<void> {
        try {
            await this.version(this.checkClient);
        } catch (e) {
            if (e instanceof AuthenticationError || e instanceof ProxmoxTlsError) throw e;
            log(
                `Proxmox VE ${this.connection.endpoint}: the session's first call failed (${e instanceof Error ? e.message : String(e)}); each VM tries on its own`,
            );
        }
    }

    /** The PVE release, read once per session. A failed read is tried again by the next caller. */
    version(client: ProxmoxClient = this.client): Promise<PveVersion> {
        if (!this.versionRead) {
            const read = client.get<{ release?: string; version?: string } | null>("/version").then((v) => {
                const major = parseInt(v?.release ?? v?.version ?? "", 10);
                return Number.isInteger(major) ? { major } : {};
            });
            this.versionRead = read;
            read.catch(() => {
                if (this.versionRead === read) this.versionRead = undefined;
            });
        }
        return this.versionRead;
    }

    /**
     * Where the cluster listing says VM `vmId` is, for a VM found missing from `node` at
     * `missedAt`. A listing read at most `resourcesMaxAgeMs` ago answers every VM that asks
     * (the one read serves a whole node's VMs); when it still shows the VM on `node`, or not at
     * all, and was read before `missedAt`, it may predate the move, and a new one is read.
     */
    async locate(vmId: number, node: string, missedAt: number): Promise<ClusterResource | undefined> {
        let listing = this.listing;
        if (!listing || this.clock.now() - listing.startedAt > this.resourcesMaxAgeMs) listing = this.readListing();
        let entry = findVm(await listing.value, vmId);
        if ((!entry || entry.node === node) && listing.startedAt < missedAt) {
            // Another VM may have started a newer listing meanwhile.
            const newer = this.listing && this.listing.startedAt >= missedAt ? this.listing : this.readListing();
            entry = findVm(await newer.value, vmId);
        }
        return entry;
    }

    private readListing(): { readonly startedAt: number; readonly value: Promise<ClusterResource[]> } {
        this.resourceReads++;
        const value = this.client.get<ClusterResource[] | null>("/cluster/resources", { type: "vm" }).then((r) => r ?? []);
        const listing = { startedAt: this.clock.now(), value };
        this.listing = listing;
        value.catch(() => {
            if (this.listing === listing) this.listing = undefined;
        });
        return listing;
    }

    async close(): Promise<void> {
        this.checkClient.close();
        this.client.close();
        this.connection.close();
    }
}

/** Sessions for the fleet runner: one per endpoint, TLS settings and API token. */
export const proxmoxSessions: SessionSupport<ProxmoxTarget, ProxmoxCredentials> = {
    key: (target, credentials) =>
        JSON.stringify([target.endpoint, target.insecure, target.caCert ?? "", target.fingerprint ?? "", credentials.apiToken]),
    async open(target, credentials, context: SessionContext) {
        // Servers echo the secret half alone too (`...=SECRET`): scrub it on its own.
        context.registerSecret?.(credentials.apiToken.slice(credentials.apiToken.indexOf("=") + 1));
        const session = new ProxmoxSession(target, credentials, context.clock, context.log);
        try {
            await session.check(context.log);
        } catch (e) {
            await session.close();
            throw e;
        }
        return session;
    },
};
