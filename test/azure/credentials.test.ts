import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
    AzureCliCredential,
    CachedToken,
    ChainedCredential,
    CredentialUnavailableError,
    ManagedIdentityCredential,
} from "../../src/drivers/azure/credentials";
import { HttpClient } from "../../src/drivers/azure/http";
import { AuthenticationError, InputError } from "../../src/power/errors";
import { clientId, clientSecret, closeAll, startRig, tenantId } from "./setup";

const savedEnv = { ...process.env };
afterEach(async () => {
    for (const key of Object.keys(process.env)) if (!(key in savedEnv)) delete process.env[key];
    Object.assign(process.env, savedEnv);
    await closeAll();
});

function clearAzureEnv(): void {
    for (const key of [
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_AUTHORITY_HOST",
        "IDENTITY_ENDPOINT",
        "IDENTITY_HEADER",
        "AZURE_POD_IDENTITY_AUTHORITY_HOST",
        "AZURE_FEDERATED_TOKEN_FILE",
        ...Object.keys(process.env).filter((k) => k.startsWith("ARM_") || k.startsWith("ACTIONS_ID_TOKEN_")),
    ]) {
        delete process.env[key];
    }
}

/** Only the environment credential's variables, pointing at the fake token endpoint. */
function useEnvironmentCredential(authorityHost: string): void {
    clearAzureEnv();
    Object.assign(process.env, {
        AZURE_TENANT_ID: tenantId,
        AZURE_CLIENT_ID: clientId,
        AZURE_CLIENT_SECRET: clientSecret,
        AZURE_AUTHORITY_HOST: authorityHost,
    });
}

describe("azure credential sources against the fake token endpoints", () => {
    test("environment: AZURE_TENANT_ID / AZURE_CLIENT_ID / AZURE_CLIENT_SECRET with AZURE_AUTHORITY_HOST", async () => {
        const rig = await startRig();
        useEnvironmentCredential(rig.server.url);
        const driver = rig.driver({}, {}, { credential: "environment", tenantId: undefined, clientId: undefined });
        expect((await driver.readState()).state).toBe("running");
        expect(rig.server.requests.filter((r) => r.path === `/${tenantId}/oauth2/v2.0/token`)).toHaveLength(1);
    });

    test("environment without the variables says which are missing", async () => {
        const rig = await startRig();
        clearAzureEnv();
        const failure = rig.driver({}, {}, { credential: "environment" }).readState();
        await expect(failure).rejects.toBeInstanceOf(AuthenticationError);
        await expect(failure).rejects.toThrow(/AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET not set/);
    });

    test("managed identity, App Service style (IDENTITY_ENDPOINT + IDENTITY_HEADER), user-assigned client id", async () => {
        const rig = await startRig({ identityHeader: "identity-header-secret-77" });
        clearAzureEnv();
        Object.assign(process.env, { IDENTITY_ENDPOINT: `${rig.server.url}/msi/token`, IDENTITY_HEADER: "identity-header-secret-77" });
        const driver = rig.driver({}, {}, { credential: "managedIdentity", tenantId: undefined });
        expect((await driver.readState()).state).toBe("running");
        const tokenCall = rig.server.requests.find((r) => r.path === "/msi/token")!;
        expect(tokenCall.query).toMatchObject({ "api-version": "2019-08-01", resource: `${rig.server.url}/`, client_id: clientId });
    });

    test("managed identity, IMDS style (Metadata: true) at an overridden address", async () => {
        const rig = await startRig();
        clearAzureEnv();
        process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST = rig.server.url;
        const driver = rig.driver({}, {}, { credential: "managedIdentity", clientId: undefined, tenantId: undefined });
        expect((await driver.readState()).state).toBe("running");
        expect(rig.server.requests.find((r) => r.path === "/metadata/identity/oauth2/token")?.query["api-version"]).toBe("2018-02-01");
    });

    test("managed identity with a wrong header is refused without echoing the header", async () => {
        const rig = await startRig({ identityHeader: "right-header-value" });
        clearAzureEnv();
        Object.assign(process.env, { IDENTITY_ENDPOINT: `${rig.server.url}/msi/token`, IDENTITY_HEADER: "wrong-header-value" });
        const failure = rig.driver({}, {}, { credential: "managedIdentity" }).readState();
        await expect(failure).rejects.toBeInstanceOf(AuthenticationError);
        expect(await failure.catch((e: Error) => e.message)).not.toContain("wrong-header-value");
    });

    test("managed identity with no endpoint listening is unavailable, not a hang", async () => {
        clearAzureEnv();
        process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST = "http://127.0.0.1:9";
        const credential = new ManagedIdentityCredential(new HttpClient(), undefined);
        await expect(credential.getToken("https://management.azure.com/.default")).rejects.toBeInstanceOf(CredentialUnavailableError);
    });

    describe("Azure CLI", () => {
        let dir: string;
        beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "fake-az-"))));
        afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

        function fakeAz(script: string): string {
            const file = path.join(dir, "az");
            fs.writeFileSync(file, `#!/bin/sh\n${script}\n`, { mode: 0o755 });
            return file;
        }

        test("reads accessToken and expires_on from `az account get-access-token`", async () => {
            const az = fakeAz(
                `echo "$@" > ${dir}/args; echo '{"accessToken":"cli-token-1","expiresOn":"2099-01-01 00:00:00.000000","expires_on":4070908800,"tokenType":"Bearer"}'`,
            );
            const token = await new AzureCliCredential(tenantId, az).getToken("https://management.azure.com/.default");
            expect(token).toEqual({ token: "cli-token-1", expiresOnTimestamp: 4070908800_000 });
            expect(fs.readFileSync(path.join(dir, "args"), "utf8").trim()).toBe(
                `account get-access-token --output json --resource https://management.azure.com/ --tenant ${tenantId}`,
            );
        });

        test("not signed in is unavailable with the hint to run az login", async () => {
            const az = fakeAz(`echo "ERROR: Please run 'az login' to setup account." >&2; exit 1`);
            await expect(new AzureCliCredential(undefined, az).getToken("https://management.azure.com/.default")).rejects.toThrow(
                /not signed in; run `az login`/,
            );
        });

        test("az missing is unavailable", async () => {
            const failure = new AzureCliCredential(undefined, path.join(dir, "no-such-az")).getToken("x/.default");
            await expect(failure).rejects.toBeInstanceOf(CredentialUnavailableError);
        });
    });

    test("the default chain tries environment, managed identity and the CLI, and says what it tried", async () => {
        clearAzureEnv();
        process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST = "http://127.0.0.1:9";
        process.env.PATH = "/nonexistent";
        const rig = await startRig();
        const driver = rig.driver({}, {}, { credential: undefined });
        const failure = driver.readState();
        await expect(failure).rejects.toBeInstanceOf(AuthenticationError);
        await expect(failure).rejects.toThrow(
            /no Azure credential is available.*environment credential.*workload identity.*ARM_\* variables.*managed identity.*Azure CLI/,
        );
    });

    test("the default chain uses the environment when it is set", async () => {
        const rig = await startRig();
        useEnvironmentCredential(rig.server.url);
        expect((await rig.driver({}, {}, { credential: undefined }).readState()).state).toBe("running");
    });

    test("the default chain ends with @azure/identity's DefaultAzureCredential when the program has it installed", async () => {
        const rig = await startRig();
        clearAzureEnv();
        process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST = "http://127.0.0.1:9";
        process.env.PATH = "/nonexistent";
        // A stand-in package in a program directory: it gets its token from the fake endpoint.
        const program = fs.mkdtempSync(path.join(os.tmpdir(), "program-"));
        const identity = path.join(program, "node_modules", "@azure", "identity");
        fs.mkdirSync(identity, { recursive: true });
        fs.writeFileSync(
            path.join(identity, "index.js"),
            `exports.DefaultAzureCredential = class { async getToken(scope) { return { token: ${JSON.stringify("placeholder")}, expiresOnTimestamp: Date.now() + 3600000, scope }; } };`,
        );
        const cwd = process.cwd();
        process.chdir(program);
        try {
            const driver = rig.driver({}, {}, { credential: undefined });
            // ARM refuses the stand-in's token: proof the chain reached it and used what it returned.
            await expect(driver.readState()).rejects.toThrow(/ARM refused the token for instanceView \(401 InvalidAuthenticationToken/);
            expect(rig.server.armRequests().every((r) => r.auth === "bearer")).toBe(true);
        } finally {
            process.chdir(cwd);
            fs.rmSync(program, { recursive: true, force: true });
        }
    });

    test("a refusal ends the chain instead of trying the next source", async () => {
        const later = { getToken: jest.fn(async () => ({ token: "t", expiresOnTimestamp: Date.now() + 3_600_000 })) };
        const chain = new ChainedCredential([
            { name: "a", credential: { getToken: async () => Promise.reject(new AuthenticationError("refused")) } },
            { name: "b", credential: later },
        ]);
        await expect(chain.getToken("s")).rejects.toThrow("refused");
        expect(later.getToken).not.toHaveBeenCalled();
    });

    test("a client secret with another credential source is refused by name", async () => {
        const rig = await startRig();
        expect(() => rig.driver({}, { clientSecret }, { credential: "azureCli" })).toThrow(InputError);
        expect(() => rig.driver({}, { clientSecret }, { credential: "azureCli" })).toThrow(
            /target\.azure\.clientSecret: is only used with credential "clientSecret"/,
        );
    });

    test("the token is cached until shortly before it expires, and fetched once for concurrent callers", async () => {
        let now = 0;
        let issued = 0;
        const cache = new CachedToken(
            { getToken: async () => ({ token: `t${++issued}`, expiresOnTimestamp: now + 10 * 60_000 }) },
            "s",
            () => now,
        );
        expect(await Promise.all([cache.get(), cache.get(), cache.get()])).toEqual(["t1", "t1", "t1"]);
        now += 7 * 60_000;
        expect(await cache.get()).toBe("t1");
        now += 2 * 60_000;
        expect(await cache.get()).toBe("t2");
        cache.invalidate();
        expect(await cache.get()).toBe("t3");
    });
});
