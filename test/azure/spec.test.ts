import { azureSpec } from "../../src/drivers/azure/spec";
import { InputError, InputErrors } from "../../src/power/errors";
import { validateInputs } from "../../src/operations/inputs";

const base = {
    subscriptionId: "6f1c2b6e-0d5e-4a36-9a7c-3f1a2b3c4d5e",
    resourceGroupName: "rg-graceful",
    vmName: "web-1",
};

function errorsOf(raw: unknown): string[] {
    try {
        azureSpec.parseTarget(raw, "target.azure");
        return [];
    } catch (e) {
        if (e instanceof InputErrors) return e.errors.map((x) => x.message);
        if (e instanceof InputError) return [e.message];
        throw e;
    }
}

describe("azure target validation", () => {
    test("a minimal target gets the public-cloud endpoints", () => {
        expect(azureSpec.parseTarget(base, "target.azure")).toEqual({
            ...base,
            resourceManagerEndpoint: "https://management.azure.com",
            authorityHost: "https://login.microsoftonline.com",
        });
    });

    test("identity is subscription, resource group and VM name; the client secret is the secret", () => {
        expect(azureSpec.identityFields).toEqual(["subscriptionId", "resourceGroupName", "vmName"]);
        expect(azureSpec.secretFields).toEqual(["clientSecret", "oidcToken", "oidcRequestToken"]);
        expect(azureSpec.supportsDeallocate).toBe(true);
    });

    test.each([
        [{ ...base, subscriptionId: "not-a-guid" }, /target\.azure\.subscriptionId: must be a subscription GUID/],
        [{ ...base, vmName: "-web" }, /target\.azure\.vmName: must be 1-64 letters/],
        [{ ...base, vmName: "web." }, /target\.azure\.vmName/],
        [{ ...base, vmName: "a".repeat(65) }, /target\.azure\.vmName: must be at most 64 characters/],
        [{ ...base, vmName: "web 1" }, /target\.azure\.vmName/],
        [{ ...base, resourceGroupName: "rg." }, /target\.azure\.resourceGroupName/],
        [{ ...base, resourceGroupName: "rg/other" }, /target\.azure\.resourceGroupName/],
        [{ ...base, tenantId: "not a tenant" }, /target\.azure\.tenantId/],
        [{ ...base, clientId: "app" }, /target\.azure\.clientId: must be an application \(client\) GUID/],
        [
            { ...base, credential: "password" },
            /target\.azure\.credential: must be one of "clientSecret", "environment", "workloadIdentity", "oidc", "armEnvironment", "managedIdentity", "azureCli"/,
        ],
        [{ ...base, resourceManagerEndpoint: "http://management.azure.com" }, /target\.azure\.resourceManagerEndpoint: must use https:/],
        [{ ...base, resourceManagerEndpoint: "https://management.azure.com/subscriptions" }, /must be an origin/],
        [{ ...base, authorityHost: "https://user:pw@login.example" }, /target\.azure\.authorityHost: must not embed credentials/],
        [{ ...base, caCert: "hello" }, /target\.azure\.caCert: must be one or more PEM certificates/],
        [
            {
                ...base,
                caCert: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----",
            },
            /holds a private key/,
        ],
        [{ ...base, vmname: "typo" }, /target\.azure\.vmname: is not a known field/],
        [{ ...base, clientSecret: "s3cr3t-value" }, /target\.azure\.clientSecret: is a secret: pass it in `credentials`/],
        [
            { ...base, credential: "clientSecret", tenantId: "contoso.onmicrosoft.com" },
            /target\.azure\.clientId: is required with credential "clientSecret"/,
        ],
    ])("rejects %j", (raw, message) => {
        const errors = errorsOf(raw);
        expect(errors.join("\n")).toMatch(message);
    });

    test("every wrong field is reported at once", () => {
        const errors = errorsOf({ subscriptionId: "x", resourceGroupName: "", vmName: "-" });
        expect(errors).toHaveLength(3);
    });

    test("a secret is never quoted back", () => {
        const { errors } = validateInputs({ platform: "azure", target: base, credentials: { clientSecret: "   padded-secret-value  " } });
        const text = errors.map((e) => e.message).join("\n");
        expect(text).toMatch(/target\.azure\.clientSecret: must not start or end with white space/);
        expect(text).not.toContain("padded-secret-value");
    });

    test("names in other scripts and a domain tenant are accepted", () => {
        expect(() =>
            azureSpec.parseTarget(
                { ...base, resourceGroupName: "Gruppe_(prod)-ä.1", vmName: "db_01.internal_", tenantId: "contoso.onmicrosoft.com" },
                "target.azure",
            ),
        ).not.toThrow();
    });

    test("describe names the VM without secrets", () => {
        expect(azureSpec.describe(azureSpec.parseTarget(base, "target.azure"))).toBe(
            "azure subscription 6f1c2b6e-0d5e-4a36-9a7c-3f1a2b3c4d5e resource group rg-graceful VM web-1",
        );
    });
});

describe("azure warnings at preview", () => {
    const target = azureSpec.parseTarget(base, "target.azure");
    test("a graceful timeout above Azure's 5 minutes warns that the platform cuts it short", () => {
        const warnings = azureSpec.warnings!(target, 10 * 60_000);
        expect(warnings).toHaveLength(1);
        expect(warnings[0]).toMatch(/gracefulShutdownTimeout is 600s, but Azure forces a VM off about 5 minutes/);
    });
    test("5 minutes or less: no warning", () => {
        expect(azureSpec.warnings!(target, 5 * 60_000)).toEqual([]);
        expect(azureSpec.warnings!(target, 60_000)).toEqual([]);
    });
});
