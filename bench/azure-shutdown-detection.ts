import { AzureDriver } from "../src/drivers/azure/driver";
import { azureSpec } from "../src/drivers/azure/spec";
import { systemClock } from "../src/power/clock";
import { runTransition } from "../src/power/transition";
import { AzureContractServer, LroStyle } from "../test/contracts/azure/server";

/**
 * How long after an Azure VM reaches `PowerState/stopped` does a graceful transition return,
 * and how many ARM requests does it cost? The driver follows the powerOff operation
 * (Azure-AsyncOperation here) and its end wakes the instance-view wait at once; the baseline is
 * the same driver when ARM gives no status URL, so only the instance-view polling (1, 2, 4, then
 * every 5 s) notices. Against the contract server, with guests that take 0.5-6 s to shut down
 * (the same sequence for both methods) and `Retry-After` as given.
 *
 *   npx tsc -p tsconfig.json --outDir /tmp/bench-out && node /tmp/bench-out/bench/azure-shutdown-detection.js [ROUNDS] [RETRY_AFTER_S]
 */

type Method = "operation+poll" | "poll-only";

interface Sample {
    readonly method: Method;
    readonly lagMs: number;
    readonly requests: number;
}

const subscriptionId = "6f1c2b6e-0d5e-4a36-9a7c-3f1a2b3c4d5e";
const tenant = {
    tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47",
    clientId: "0d5a1f3e-8c2b-4e7a-9f10-aa11bb22cc33",
    clientSecret: "bench-secret",
};

async function sample(server: AzureContractServer, method: Method, shutdownMs: number, round: number): Promise<Sample> {
    server.lroStyle = (method === "operation+poll" ? "azure-asyncoperation" : "untracked") as LroStyle;
    const vmName = `bench-${method === "poll-only" ? "p" : "o"}-${round}`;
    const vm = server.addVm({ subscriptionId, resourceGroupName: "rg", vmName, guest: { kind: "shutsDown", afterMs: shutdownMs } });
    const target = azureSpec.parseTarget(
        {
            subscriptionId,
            resourceGroupName: "rg",
            vmName,
            ...tenant,
            clientSecret: undefined,
            resourceManagerEndpoint: server.url,
            authorityHost: server.url,
            caCert: server.caCert,
        },
        "bench",
    );
    const driver = new AzureDriver(target, { clientSecret: tenant.clientSecret }, { clock: systemClock, log: () => undefined });
    const before = server.armRequests().length;
    try {
        await runTransition(driver, systemClock, { desired: "OffGraceful", gracefulTimeoutMs: 60_000 });
    } finally {
        await driver.close();
    }
    const returnedAt = Date.now();
    return { method, lagMs: returnedAt - vm.changedAt, requests: server.armRequests().length - before };
}

function percentile(values: number[], p: number): number {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

async function main(): Promise<void> {
    const rounds = Number(process.argv[2] ?? 8);
    const retryAfterSeconds = Number(process.argv[3] ?? 1);
    const server = await AzureContractServer.start({ principals: [tenant], retryAfterSeconds, operationMs: 100 });
    const samples: Sample[] = [];
    try {
        for (let round = 0; round < rounds; round++) {
            // Spread over the poll schedule so neither method is lucky with one phase.
            const shutdownMs = 500 + Math.round(((round * 0.618) % 1) * 5_500);
            const order: Method[] = round % 2 === 0 ? ["operation+poll", "poll-only"] : ["poll-only", "operation+poll"];
            for (const method of order) samples.push(await sample(server, method, shutdownMs, round));
        }
    } finally {
        await server.stop();
    }
    console.log(`azure-shutdown-detection: ${rounds} rounds, guests stop after 0.5-6 s, Retry-After ${retryAfterSeconds}s`);
    const medians: Record<string, number> = {};
    for (const method of ["operation+poll", "poll-only"] as Method[]) {
        const mine = samples.filter((s) => s.method === method);
        const lags = mine.map((s) => s.lagMs);
        medians[method] = percentile(lags, 0.5);
        console.log(
            `  ${method.padEnd(15)} lag after PowerState/stopped: median ${percentile(lags, 0.5)} ms, p90 ${percentile(lags, 0.9)} ms, max ${Math.max(...lags)} ms;` +
                ` ARM requests per transition: median ${percentile(
                    mine.map((s) => s.requests),
                    0.5,
                )}`,
        );
    }
    console.log(
        `  median lag ratio poll-only / operation+poll: ${(medians["poll-only"] / Math.max(1, medians["operation+poll"])).toFixed(1)}x`,
    );
}

main().catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
});
