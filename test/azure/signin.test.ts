import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { AuthenticationError, InputError } from "../../src/power/errors";
import { azureSpec } from "../../src/drivers/azure/spec";
import { fakeJwt } from "../contracts/azure/server";
import { clientId, closeAll, startRig, tenantId } from "./setup";

/**
 * Sign-in as CI systems and azure-native do it, each source against the contract server's token
 * endpoint, which checks the federated assertion's issuer, subject, audience and expiry.
 */
const issuer = "https://token.actions.githubusercontent.com";
const subject = "repo:example/infra:environment:production";
const savedEnv = { ...process.env };
const dirs: string[] = [];

afterEach(async () => {
    for (const key of Object.keys(process.env)) if (!(key in savedEnv)) delete process.env[key];
    Object.assign(process.env, savedEnv);
    for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
    await closeAll();
});

function clearCredentialEnv(): void {
    for (const key of Object.keys(process.env)) {
        if (/^(AZURE_|ARM_|ACTIONS_ID_TOKEN_|IDENTITY_)/.test(key)) delete process.env[key];
    }
    // Nothing further down the chain may answer by accident.
    process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST = "http://127.0.0.1:9";
    process.env.PATH = "/nonexistent";
}

function assertion(overrides: Record<string, unknown> = {}): string {
    return fakeJwt({
        iss: issuer,
        sub: subject,
        aud: "api://AzureADTokenExchange",
        exp: Math.floor(Date.now() / 1000) + 600,
        ...overrides,
    });
}

function tokenFile(content: string): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "federated-"));
    dirs.push(dir);
    const file = path.join(dir, "token");
    fs.writeFileSync(file, content + "\n");
    return file;
}

async function federatedRig(extra: Record<string, unknown> = {}) {
    return startRig({
        principals: [{ tenantId, clientId, clientSecret: "unused-secret-value", federated: { issuer, subject } }],
        githubOidc: { requestToken: "gh-request-token-7Yq", issuer, subject },
        ...extra,
    });
}

const noIds = { tenantId: undefined, clientId: undefined };

describe("azure sign-in: workload identity federation", () => {
    test("AZURE_FEDERATED_TOKEN_FILE + AZURE_CLIENT_ID + AZURE_TENANT_ID (AKS), explicitly and through the default chain", async () => {
        const rig = await federatedRig();
        clearCredentialEnv();
        const token = assertion();
        Object.assign(process.env, {
            AZURE_FEDERATED_TOKEN_FILE: tokenFile(token),
            AZURE_CLIENT_ID: clientId,
            AZURE_TENANT_ID: tenantId,
            AZURE_AUTHORITY_HOST: rig.server.url,
        });
        expect((await rig.driver({}, {}, { credential: "workloadIdentity", ...noIds }).readState()).state).toBe("running");
        expect((await rig.driver({}, {}, { credential: undefined, ...noIds }).readState()).state).toBe("running");
        expect(rig.server.federatedAssertions).toEqual([token, token]);
    });

    test("the token file is read for every grant, so a rotated token is used", async () => {
        const rig = await federatedRig();
        clearCredentialEnv();
        const file = tokenFile(assertion());
        const driver = rig.driver({}, {}, { credential: "workloadIdentity", federatedTokenFile: file });
        await driver.readState();
        const rotated = assertion({ jti: "rotated" });
        fs.writeFileSync(file, rotated);
        rig.server.revokeTokens();
        await driver.readState();
        expect(rig.server.federatedAssertions.at(-1)).toBe(rotated);
    });

    test("an assertion for another subject is refused with Entra's code, and the assertion is not echoed", async () => {
        const rig = await federatedRig();
        clearCredentialEnv();
        const wrong = assertion({ sub: "repo:someone/else:ref:refs/heads/main" });
        const failure = rig.driver({}, {}, { credential: "workloadIdentity", federatedTokenFile: tokenFile(wrong) }).readState();
        await expect(failure).rejects.toBeInstanceOf(AuthenticationError);
        const message = await failure.catch((e: Error) => e.message);
        expect(message).toMatch(/AADSTS70021/);
        expect(message).not.toContain(wrong);
    });

    test("an expired assertion is refused (AADSTS700024)", async () => {
        const rig = await federatedRig();
        clearCredentialEnv();
        const expired = assertion({ exp: Math.floor(Date.now() / 1000) - 60 });
        const failure = rig.driver({}, {}, { credential: "workloadIdentity", federatedTokenFile: tokenFile(expired) }).readState();
        await expect(failure).rejects.toThrow(/AADSTS700024/);
    });

    test("a missing token file names the variable and the path", async () => {
        const rig = await federatedRig();
        clearCredentialEnv();
        const failure = rig.driver({}, {}, { credential: "workloadIdentity", federatedTokenFile: "/nonexistent/token" }).readState();
        await expect(failure).rejects.toThrow(/federated token file \/nonexistent\/token \(ENOENT\)/);
    });

    test("workloadIdentity chosen without its variables says which are missing", async () => {
        const rig = await federatedRig();
        clearCredentialEnv();
        const failure = rig.driver({}, {}, { credential: "workloadIdentity", ...noIds }).readState();
        await expect(failure).rejects.toThrow(/workload identity: AZURE_TENANT_ID.*AZURE_CLIENT_ID.*AZURE_FEDERATED_TOKEN_FILE/);
    });
});

describe("azure sign-in: azure-native's ARM_* variables", () => {
    function armIds(rig: { server: { url: string } }): void {
        Object.assign(process.env, { ARM_TENANT_ID: tenantId, ARM_CLIENT_ID: clientId, ARM_AUTHORITY_HOST: rig.server.url });
    }

    test("ARM_CLIENT_SECRET", async () => {
        const rig = await startRig();
        clearCredentialEnv();
        armIds(rig);
        process.env.ARM_CLIENT_SECRET = "Sx8Q~azure-contract-secret-4f9d2c7b";
        expect((await rig.driver({}, {}, { credential: "armEnvironment", ...noIds }).readState()).state).toBe("running");
        expect((await rig.driver({}, {}, { credential: undefined, ...noIds }).readState()).state).toBe("running");
    });

    test("ARM_USE_OIDC with ARM_OIDC_TOKEN", async () => {
        const rig = await federatedRig();
        clearCredentialEnv();
        armIds(rig);
        const token = assertion();
        Object.assign(process.env, { ARM_USE_OIDC: "true", ARM_OIDC_TOKEN: token });
        expect((await rig.driver({}, {}, { credential: undefined, ...noIds }).readState()).state).toBe("running");
        expect(rig.server.federatedAssertions).toEqual([token]);
    });

    test("ARM_USE_OIDC with ARM_OIDC_TOKEN_FILE_PATH", async () => {
        const rig = await federatedRig();
        clearCredentialEnv();
        armIds(rig);
        Object.assign(process.env, { ARM_USE_OIDC: "true", ARM_OIDC_TOKEN_FILE_PATH: tokenFile(assertion()) });
        expect((await rig.driver({}, {}, { credential: "armEnvironment", ...noIds }).readState()).state).toBe("running");
    });

    test.each([
        ["ARM_OIDC_REQUEST_URL", "ARM_OIDC_REQUEST_TOKEN"],
        ["ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"],
    ])("ARM_USE_OIDC with GitHub Actions' token request (%s + %s)", async (urlVariable, tokenVariable) => {
        const rig = await federatedRig();
        clearCredentialEnv();
        armIds(rig);
        Object.assign(process.env, {
            ARM_USE_OIDC: "true",
            [urlVariable]: `${rig.server.url}/_github/idtoken?api-version=2.0`,
            [tokenVariable]: "gh-request-token-7Yq",
        });
        expect((await rig.driver({}, {}, { credential: undefined, ...noIds }).readState()).state).toBe("running");
        const github = rig.server.requests.filter((r) => r.path === "/_github/idtoken");
        expect(github).toHaveLength(1);
        expect(rig.server.federatedAssertions).toHaveLength(1);
    });

    test("a GitHub token request refused says what the job needs, without the request token", async () => {
        const rig = await federatedRig();
        clearCredentialEnv();
        armIds(rig);
        Object.assign(process.env, {
            ARM_USE_OIDC: "1",
            ARM_OIDC_REQUEST_URL: `${rig.server.url}/_github/idtoken?api-version=2.0`,
            ARM_OIDC_REQUEST_TOKEN: "wrong-request-token-zz9",
        });
        const failure = rig.driver({}, {}, { credential: "armEnvironment", ...noIds }).readState();
        await expect(failure).rejects.toThrow(/HTTP 401.*id-token: write/);
        await expect(failure).rejects.not.toThrow(/wrong-request-token-zz9/);
    });

    test("a request URL from the environment that is not https names the variable", async () => {
        const rig = await federatedRig();
        clearCredentialEnv();
        armIds(rig);
        Object.assign(process.env, {
            ARM_USE_OIDC: "true",
            ARM_OIDC_REQUEST_URL: "http://github.example/token",
            ARM_OIDC_REQUEST_TOKEN: "t",
        });
        const failure = rig.driver({}, {}, { credential: "armEnvironment", ...noIds }).readState();
        await expect(failure).rejects.toThrow(/ARM_OIDC_REQUEST_URL: the OIDC token request URL must use https/);
    });

    test("ARM_USE_MSI uses the managed identity", async () => {
        const rig = await startRig({ identityHeader: "idh-123" });
        clearCredentialEnv();
        Object.assign(process.env, {
            ARM_USE_MSI: "true",
            IDENTITY_ENDPOINT: `${rig.server.url}/msi/token`,
            IDENTITY_HEADER: "idh-123",
        });
        expect((await rig.driver({}, {}, { credential: "armEnvironment", ...noIds }).readState()).state).toBe("running");
    });
});

describe("azure sign-in: explicit OIDC settings on the target", () => {
    test("oidcToken as a secret credential", async () => {
        const rig = await federatedRig();
        clearCredentialEnv();
        const token = assertion();
        expect((await rig.driver({}, { oidcToken: token }, { credential: "oidc" }).readState()).state).toBe("running");
        expect(rig.server.federatedAssertions).toEqual([token]);
    });

    test("oidcRequestUrl with oidcRequestToken", async () => {
        const rig = await federatedRig();
        clearCredentialEnv();
        const driver = rig.driver(
            {},
            { oidcRequestToken: "gh-request-token-7Yq" },
            { credential: "oidc", oidcRequestUrl: `${rig.server.url}/_github/idtoken?api-version=2.0` },
        );
        expect((await driver.readState()).state).toBe("running");
    });

    test("an OIDC token with another credential source is refused by name", async () => {
        const rig = await federatedRig();
        clearCredentialEnv();
        expect(() => rig.driver({}, { oidcToken: assertion() }, { credential: "managedIdentity" })).toThrow(InputError);
        expect(() => rig.driver({}, { oidcToken: assertion() }, { credential: "managedIdentity" })).toThrow(/target\.azure\.oidcToken/);
    });

    test("bad OIDC fields are refused naming the field", () => {
        const base = { subscriptionId: "6f1c2b6e-0d5e-4a36-9a7c-3f1a2b3c4d5e", resourceGroupName: "rg", vmName: "vm" };
        expect(() => azureSpec.parseTarget({ ...base, federatedTokenFile: "relative/token" }, "target.azure")).toThrow(
            /target\.azure\.federatedTokenFile/,
        );
        expect(() => azureSpec.parseTarget({ ...base, oidcRequestUrl: "http://github.example/token" }, "target.azure")).toThrow(
            /target\.azure\.oidcRequestUrl/,
        );
        expect(() => azureSpec.parseTarget({ ...base, credential: "federated" }, "target.azure")).toThrow(/target\.azure\.credential/);
        expect(() => azureSpec.parseTarget({ ...base, oidcToken: assertion() }, "target.azure")).toThrow(
            /target\.azure\.oidcToken.*secret/,
        );
        expect(() => azureSpec.parseCredentials({ oidcToken: "" }, "credentials")).toThrow(/credentials\.oidcToken/);
    });
});

describe("azure sign-in: nothing available", () => {
    test("the chain's error lists every source tried and what each needs", async () => {
        const rig = await federatedRig();
        clearCredentialEnv();
        const failure = rig.driver({}, {}, { credential: undefined, ...noIds }).readState();
        const message = await failure.then(
            () => "",
            (e: Error) => e.message,
        );
        for (const expected of [
            "AZURE_CLIENT_SECRET",
            "AZURE_FEDERATED_TOKEN_FILE",
            "ARM_CLIENT_SECRET",
            "ARM_USE_OIDC",
            "managed identity",
            "Azure CLI",
        ]) {
            expect(message).toContain(expected);
        }
    });
});
