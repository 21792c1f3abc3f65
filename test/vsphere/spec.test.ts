import { parseVmSelector } from "../../src/drivers/vsphere/selector";
import { vsphereSpec } from "../../src/drivers/vsphere/spec";
import { validateInputs } from "../../src/operations/inputs";
import { errorsOf } from "../helpers/inputErrors";

/** Input checks of `target.vsphere`: every error names its field, none echoes the password. */
describe("vsphere spec", () => {
    const field = "target.vsphere";
    const base = { url: "https://vc.example.com/sdk", username: "svc-power@vsphere.local", vm: "web-1" };
    const parse = (extra: Record<string, unknown>) => vsphereSpec.parseTarget({ ...base, ...extra }, field);

    test.each([
        ["https://vc.example.com/sdk", "https://vc.example.com/sdk"],
        ["https://vc.example.com", "https://vc.example.com/sdk"],
        ["https://vc.example.com/", "https://vc.example.com/sdk"],
        ["vc.example.com", "https://vc.example.com/sdk"],
        ["vc.example.com:8443", "https://vc.example.com:8443/sdk"],
        ["https://[::1]:8989/sdk", "https://[::1]:8989/sdk"],
        ["https://esx1/custom/sdk", "https://esx1/custom/sdk"],
    ])("url %s means %s", (url, normalised) => {
        expect(parse({ url }).url).toBe(normalised);
    });

    test.each([
        ["http://vc.example.com/sdk", /must use https/],
        ["https://admin:hunter22@vc.example.com/sdk", /must not embed credentials/],
        ["https://vc.example.com/sdk?x=1", /query or fragment/],
        ["https://", /vSphere SDK URL/],
    ])("url %s is refused", (url, message) => {
        const [error] = errorsOf(() => parse({ url }));
        expect(error.field).toBe("target.vsphere.url");
        expect(error.message).toMatch(message);
        expect(error.message).not.toContain("hunter22");
    });

    test.each([
        ["web-1", { kind: "name", name: "web-1" }],
        ["DC0/vm/prod/web-1", { kind: "path", path: "DC0/vm/prod/web-1" }],
        ["4211CB7C-1F0E-4E2A-9A5B-0123456789AB", { kind: "uuid", uuid: "4211cb7c-1f0e-4e2a-9a5b-0123456789ab" }],
        ["vm-57", { kind: "moid", moid: "vm-57" }],
        ["moid:42", { kind: "moid", moid: "42" }],
        ["name:vm-57", { kind: "name", name: "vm-57" }],
        ["name:a/b", { kind: "name", name: "a/b" }],
        ["path:DC0/vm/x", { kind: "path", path: "DC0/vm/x" }],
        ["web:8080", { kind: "name", name: "web:8080" }],
    ])("vm %s is %j", (vm, selector) => {
        expect(parseVmSelector(vm, "target.vsphere.vm")).toEqual(selector);
        expect(parse({ vm }).selector).toEqual(selector);
    });

    test.each([
        ["/DC0/vm/web", /no leading, trailing or doubled/],
        ["DC0/vm/web/", /no leading, trailing or doubled/],
        ["uuid:not-a-uuid", /must be a UUID/],
        ["moid:vm 57", /managed object id/],
        ["name:", /names nothing/],
    ])("vm %s is refused", (vm, message) => {
        const [error] = errorsOf(() => parse({ vm }));
        expect(error.field).toBe("target.vsphere.vm");
        expect(error.message).toMatch(message);
    });

    test("all problems are reported at once, each naming its field", () => {
        const errors = errorsOf(() => vsphereSpec.parseTarget({ url: "http://x", vm: "", insecure: "yes", colour: "blue" }, field));
        expect(errors.map((e) => e.field).sort()).toEqual([
            "target.vsphere.colour",
            "target.vsphere.insecure",
            "target.vsphere.url",
            "target.vsphere.username",
            "target.vsphere.vm",
        ]);
    });

    test("the password belongs in the credentials, not the target", () => {
        const errors = errorsOf(() => parse({ password: "Pa55-secret-xyz" }));
        expect(errors.map((e) => e.field)).toEqual(["target.vsphere.password"]);
        expect(errors[0].message).not.toContain("Pa55-secret-xyz");
    });

    test("credentials: a password is required, may contain spaces, and is never quoted back", () => {
        expect(vsphereSpec.parseCredentials({ password: " spaced pass " }, field)).toEqual({ password: " spaced pass " });
        expect(errorsOf(() => vsphereSpec.parseCredentials({}, field))[0].field).toBe("target.vsphere.password");
        expect(errorsOf(() => vsphereSpec.parseCredentials(undefined, field))[0].field).toBe("target.vsphere.password");
        const [wrongType] = errorsOf(() => vsphereSpec.parseCredentials({ password: 12345678 }, field));
        expect(wrongType.message).not.toContain("12345678");
        expect(errorsOf(() => vsphereSpec.parseCredentials({ password: "x", token: "y" }, field))[0].field).toBe("target.vsphere.token");
    });

    test("caCert must hold readable PEM certificates; insecure and caCert exclude each other", () => {
        expect(errorsOf(() => parse({ caCert: "not a cert" }))[0]).toMatchObject({ field: "target.vsphere.caCert" });
        const broken = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----";
        expect(errorsOf(() => parse({ caCert: broken }))[0].message).toMatch(/certificate 1 cannot be read/);
        const errors = errorsOf(() => parse({ caCert: selfSignedPem(), insecure: true }));
        expect(errors.map((e) => e.field)).toEqual(["target.vsphere.insecure"]);
        expect(parse({ caCert: selfSignedPem() }).caCert).toContain("BEGIN CERTIFICATE");
    });

    test("username is not secret; the password is; identity is url, vm and datacenter", () => {
        expect(vsphereSpec.secretFields).toEqual(["password"]);
        expect(vsphereSpec.identityFields).toEqual(["url", "vm", "datacenter"]);
        expect(vsphereSpec.supportsDeallocate).toBe(false);
    });

    test("describe names host and VM; insecure shows in the description and as a warning", () => {
        expect(vsphereSpec.describe(parse({ datacenter: "DC0" }))).toBe("vsphere vc.example.com VM web-1 in DC0");
        const insecure = parse({ insecure: true });
        expect(vsphereSpec.describe(insecure)).toBe("vsphere vc.example.com VM web-1 (TLS not verified)");
        expect(vsphereSpec.warnings?.(insecure, 60_000)).toEqual([expect.stringMatching(/insecure is true.*not verified/)]);
        expect(vsphereSpec.warnings?.(parse({}), 60_000)).toEqual([]);
    });

    test("through VmPower's input validation, Deallocated is refused on vSphere", () => {
        const { errors } = validateInputs({
            platform: "vsphere",
            target: base,
            credentials: { password: "pw-123" },
            powerState: "Deallocated",
        });
        expect(errors.map((e) => e.field)).toEqual(["powerState"]);
    });
});

/** A real self-signed certificate (openssl, CN test-ca.invalid, valid until 2126); its key was discarded. */
function selfSignedPem(): string {
    return `-----BEGIN CERTIFICATE-----
MIIBizCCATGgAwIBAgIUBw6iuyMI6p5RaeHgMPNH33YZryYwCgYIKoZIzj0EAwIw
GjEYMBYGA1UEAwwPdGVzdC1jYS5pbnZhbGlkMCAXDTI2MTEyMzEzMTE0OVoYDzIx
MjYxMDMwMTMxMTQ5WjAaMRgwFgYDVQQDDA90ZXN0LWNhLmludmFsaWQwWTATBgcq
hkjOPQIBBggqhkjOPQMBBwNCAATJw+7kpRaxqgugBXDqKw9DqTXp/qFeKmCzqkJy
1gUi+SJ0/CZxQnbNnzfOLUqTC7I4hZ7yAzhveW7t9xLPNq/ro1MwUTAdBgNVHQ4E
FgQUzMKWGi+O0OmfiG4LuGd9lAbeiP8wHwYDVR0jBBgwFoAUzMKWGi+O0OmfiG4L
uGd9lAbeiP8wDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiEAxeUk
TELzvv/i7PQHl9FMaGhd+bxTbT+Wv89RnjojD9ICICInAbj+pY6yvWquWcfyzPw2
NVsRfOr52ZK3j74bNnlv
-----END CERTIFICATE-----`;
}
