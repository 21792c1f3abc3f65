import { createDriver, sessions } from "../../src/drivers/azure/driver";
import { AzureSession } from "../../src/drivers/azure/session";
import { azureSpec } from "../../src/drivers/azure/spec";
import { FleetVm, memberReports, runFleetOperation } from "../../src/operations/fleet";
import { parseInputs } from "../../src/operations/inputs";
import { SessionPool } from "../../src/operations/sessions";
import { systemClock } from "../../src/power/clock";
import { AzureContractServer, ContractServerOptions } from "../contracts/azure/server";
import { clientId, clientSecret, rawAzureTarget, resourceGroupName, subscriptionId, tenantId } from "./setup";

/**
 * A fleet's Azure VMs of one subscription, endpoint and identity share one session: one HTTPS
 * agent and one token, fetched once for the run, refreshed once, a refusal asked once.
 */

const servers: AzureContractServer[] = [];
afterEach(async () => {
    for (const server of servers.splice(0)) await server.stop();
});

async function serverWith(count: number, guestMs: number, options: ContractServerOptions = {}): Promise<AzureContractServer> {
    const server = await AzureContractServer.start({ principals: [{ tenantId, clientId, clientSecret }], operationMs: 100, ...options });
    servers.push(server);
    for (let i = 0; i < count; i++) {
        server.addVm({ subscriptionId, resourceGroupName, vmName: vmName(i), guest: { kind: "shutsDown", afterMs: guestMs } });
    }
    return server;
}

const vmName = (i: number): string => `fleet-${String(i).padStart(2, "0")}`;

const rawTarget = rawAzureTarget;

function fleet(server: AzureContractServer, count: number, secret = clientSecret): FleetVm[] {
    return Array.from({ length: count }, (_, i) => ({
        name: vmName(i),
        tier: 0,
        inputs: parseInputs({
            platform: "azure",
            target: rawTarget(server, vmName(i)),
            credentials: { clientSecret: secret },
            powerState: "OffGraceful",
            gracefulShutdownTimeout: "30s",
        }),
    }));
}

/** Each member's method, or "failed: <message>". */
function outcomes(report: Awaited<ReturnType<typeof runFleetOperation>>): string[] {
    return report.members.map((m) =>
        m.outcome.status === "done"
            ? memberReports(m.outcome)
                  .map((r) => r.method)
                  .join(",")
            : `${m.outcome.status}`,
    );
}

describe("azure fleet: one session per subscription, endpoint and identity", () => {
    test("24 VMs stopped in one fleet run: one token request, every guest graceful", async () => {
        const server = await serverWith(24, 800);
        const logs: string[] = [];
        const report = await runFleetOperation(fleet(server, 24), { action: "OffGraceful", concurrency: 24, log: (m) => logs.push(m) });
        expect(outcomes(report)).toEqual(Array(24).fill("graceful"));
        expect(server.tokenRequests()).toHaveLength(1);
        // Every ARM call carried the one token.
        expect(server.armRequests().every((r) => r.auth === "bearer" && r.status !== 401)).toBe(true);
        const text = logs.join("\n");
        expect(text).not.toContain(clientSecret);
        for (const token of server.issuedTokens) expect(text).not.toContain(token);
    }, 30_000);

    test("a token expiring mid-run is refreshed once for all VMs", async () => {
        // A 3 s token is refreshed 0.75 s before it expires, while the 2.5 s guests shut down.
        const server = await serverWith(20, 2_500, { tokenLifetimeSeconds: 3 });
        const report = await runFleetOperation(fleet(server, 20), { action: "OffGraceful", concurrency: 20 });
        expect(outcomes(report)).toEqual(Array(20).fill("graceful"));
        expect(server.tokenRequests()).toHaveLength(2);
        expect(server.armRequests().filter((r) => r.status === 401)).toHaveLength(0);
    }, 30_000);

    test("a token revoked mid-run (ARM answers 401 to every VM) is refreshed once", async () => {
        const server = await serverWith(20, 2_000);
        const revoke = setTimeout(() => server.revokeTokens(), 1_000);
        try {
            const report = await runFleetOperation(fleet(server, 20), { action: "OffGraceful", concurrency: 20 });
            expect(outcomes(report)).toEqual(Array(20).fill("graceful"));
        } finally {
            clearTimeout(revoke);
        }
        expect(server.armRequests().filter((r) => r.status === 401).length).toBeGreaterThan(0);
        expect(server.tokenRequests()).toHaveLength(2);
    }, 30_000);

    test("a refused client secret fails every VM after one token request, and no VM is touched", async () => {
        const server = await serverWith(20, 500);
        const wrong = "Sx8Q~not-the-secret-0a1b2c3d";
        const logs: string[] = [];
        // A bound of 5: later VMs start after the refusal, and still do not ask again.
        const report = await runFleetOperation(fleet(server, 20, wrong), {
            action: "OffGraceful",
            concurrency: 5,
            onFailure: "continue",
            log: (m) => logs.push(m),
        });
        expect(outcomes(report)).toEqual(Array(20).fill("failed"));
        expect(server.tokenRequests()).toHaveLength(1);
        expect(server.armRequests()).toHaveLength(0);
        for (const member of report.members) {
            const error = member.outcome.status === "failed" ? member.outcome.error : undefined;
            expect(error?.message).toMatch(/invalid_client/);
            expect(error?.message).not.toContain(wrong);
        }
        expect(logs.join("\n")).not.toContain(wrong);
    }, 30_000);

    test("a fleet's VMs in two subscriptions use two sessions; one pool keeps them across runs", async () => {
        const server = await serverWith(4, 300);
        const other = "0e9d8c7b-6a5f-4e3d-9c2b-1a0f9e8d7c6b";
        for (let i = 0; i < 4; i++)
            server.addVm({ subscriptionId: other, resourceGroupName, vmName: vmName(i), guest: { kind: "shutsDown", afterMs: 300 } });
        const vms: FleetVm[] = [
            ...fleet(server, 4),
            ...Array.from({ length: 4 }, (_, i) => ({
                name: `other-${i}`,
                tier: 0,
                inputs: parseInputs({
                    platform: "azure",
                    target: { ...rawTarget(server, vmName(i)), subscriptionId: other },
                    credentials: { clientSecret },
                    powerState: "OffGraceful",
                }),
            })),
        ];
        const pool = new SessionPool();
        try {
            const off = await runFleetOperation(vms, { action: "OffGraceful", concurrency: 8, sessions: pool });
            expect(outcomes(off)).toEqual(Array(8).fill("graceful"));
            const on = await runFleetOperation(vms, { action: "On", concurrency: 8, sessions: pool });
            expect(outcomes(on)).toEqual(Array(8).fill("powerOn"));
        } finally {
            await pool.close();
        }
        expect(pool.size).toBe(0);
        // One token per session, for both runs: the drivers' close() left the sessions open.
        expect(server.tokenRequests()).toHaveLength(2);
    }, 30_000);
});

describe("azure session", () => {
    test("a driver's close() leaves the shared agent open: the next VM reuses its connection and token", async () => {
        const server = await serverWith(2, 100);
        const target = (i: number) => azureSpec.parseTarget(rawTarget(server, vmName(i)), "target.azure");
        const context = { clock: systemClock, log: () => undefined };
        const session = (await sessions.open(target(0), { clientSecret }, context)) as AzureSession;
        try {
            const first = await createDriver(target(0), { clientSecret }, { ...context, session });
            expect((await first.readState()).state).toBe("running");
            await first.close();
            const handshakes = server.tlsConnections;
            const second = await createDriver(target(1), { clientSecret }, { ...context, session });
            expect((await second.readState()).state).toBe("running");
            await second.close();
            expect(server.tlsConnections).toBe(handshakes);
            expect(server.tokenRequests()).toHaveLength(1);
        } finally {
            await session.close();
        }
    });

    test("the key tells VMs apart by subscription, endpoint, CA and identity, not by VM name", () => {
        const base = azureSpec.parseTarget(
            { ...rawTarget({ url: "https://127.0.0.1:1", caCert: undefined } as unknown as AzureContractServer, "a") },
            "t",
        );
        const key = (overrides: Record<string, unknown>, secret = clientSecret) =>
            sessions.key({ ...base, ...overrides } as typeof base, { clientSecret: secret });
        expect(key({ vmName: "b", resourceGroupName: "rg-other" })).toBe(key({}));
        expect(key({ subscriptionId: "0e9d8c7b-6a5f-4e3d-9c2b-1a0f9e8d7c6b" })).not.toBe(key({}));
        expect(key({ resourceManagerEndpoint: "https://127.0.0.1:2" })).not.toBe(key({}));
        expect(key({ clientId: "1d5a1f3e-8c2b-4e7a-9f10-aa11bb22cc33" })).not.toBe(key({}));
        expect(key({}, "another-secret")).not.toBe(key({}));
    });
});
