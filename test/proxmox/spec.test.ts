import { proxmoxSpec } from "../../src/drivers/proxmox/spec";
import { observe } from "../../src/drivers/proxmox/driver";
import { parseUpid, taskSucceeded } from "../../src/drivers/proxmox/tasks";
import { InputError, InputErrors } from "../../src/power/errors";
import { validateInputs } from "../../src/operations/inputs";

const field = "target.proxmox";
const good = { endpoint: "https://pve.example.com:8006", node: "pve1", vmId: 101 };

function errorsOf(fn: () => unknown): string[] {
    try {
        fn();
    } catch (e) {
        if (e instanceof InputErrors) return e.errors.map((x) => x.message);
        if (e instanceof InputError) return [e.message];
        throw e;
    }
    return [];
}

describe("proxmox target validation", () => {
    test("a minimal target is normalised with TLS verification on", () => {
        expect(proxmoxSpec.parseTarget(good, field)).toEqual({ ...good, insecure: false });
    });

    test("endpoint: trailing slash and /api2/json are dropped; a proxy path prefix is kept", () => {
        expect(proxmoxSpec.parseTarget({ ...good, endpoint: "https://pve:8006/api2/json/" }, field)).toMatchObject({
            endpoint: "https://pve:8006",
        });
        expect(proxmoxSpec.parseTarget({ ...good, endpoint: "https://proxy.example.com/pve/" }, field)).toMatchObject({
            endpoint: "https://proxy.example.com/pve",
        });
    });

    test.each([
        [{ endpoint: "http://pve:8006" }, "target.proxmox.endpoint: must use https:"],
        [{ endpoint: "pve:8006" }, "target.proxmox.endpoint: must use https:"],
        [{ endpoint: "https://root:pw@pve:8006" }, "target.proxmox.endpoint: must not embed credentials"],
        [{ endpoint: "https://pve:8006/?x=1" }, "target.proxmox.endpoint: must not have a query"],
        [{ node: "pve_1" }, "target.proxmox.node: must be a Proxmox node name"],
        [{ node: "" }, "target.proxmox.node: is required"],
        [{ vmId: 99 }, "target.proxmox.vmId: must be a whole number from 100 to 999999999"],
        [{ vmId: 1_000_000_000 }, "target.proxmox.vmId: must be a whole number from 100 to 999999999"],
        [{ vmId: 101.5 }, "target.proxmox.vmId: must be a whole number"],
        [{ fingerprint: "AA:BB" }, "target.proxmox.fingerprint: must be a SHA-256 certificate fingerprint"],
        [{ caCert: "not a pem" }, "target.proxmox.caCert: must be one or more PEM certificates"],
        [{ insecure: "yes" }, "target.proxmox.insecure: must be true or false"],
        [{ insecure: true, fingerprint: Array(32).fill("AB").join(":") }, "target.proxmox.insecure: cannot be combined"],
        [{ vmid: 101 }, "target.proxmox.vmid: is not a known field"],
        [{ apiToken: "a@pve!b=c" }, "target.proxmox.apiToken: is a secret"],
    ])("rejects %j", (change, message) => {
        const errors = errorsOf(() => proxmoxSpec.parseTarget({ ...good, ...change }, field));
        expect(errors.some((e) => e.startsWith(message))).toBe(true);
    });

    test("every bad field is reported at once", () => {
        const errors = errorsOf(() => proxmoxSpec.parseTarget({ endpoint: "ftp://x", node: "-", vmId: 1 }, field));
        expect(errors).toHaveLength(3);
    });

    test("a fingerprint is accepted in lower case and stored upper case", () => {
        const lower = Array(32).fill("ab").join(":");
        expect(proxmoxSpec.parseTarget({ ...good, fingerprint: lower }, field).fingerprint).toBe(lower.toUpperCase());
    });

    test("preview warns about skipped TLS verification and sub-second timeouts PVE rounds up", () => {
        const target = proxmoxSpec.parseTarget({ ...good, insecure: true }, field);
        expect(proxmoxSpec.warnings?.(target, 90_000)).toEqual([expect.stringContaining("TLS certificate verification is off")]);
        const verified = proxmoxSpec.parseTarget(good, field);
        expect(proxmoxSpec.warnings?.(verified, 1_500)).toEqual([expect.stringContaining("rounded up to 2 s")]);
        expect(proxmoxSpec.warnings?.(verified, 60_000)).toEqual([]);
    });

    test("identity is endpoint, node and vmId; the token is the only secret", () => {
        expect(proxmoxSpec.identityFields).toEqual(["endpoint", "node", "vmId"]);
        expect(proxmoxSpec.secretFields).toEqual(["apiToken"]);
        expect(proxmoxSpec.describe(proxmoxSpec.parseTarget(good, field))).toBe("proxmox https://pve.example.com:8006 node pve1 VM 101");
    });
});

describe("proxmox API token validation", () => {
    test("USER@REALM!TOKENID=SECRET is accepted", () => {
        expect(proxmoxSpec.parseCredentials({ apiToken: "automation@pve!pulumi=0f7c-uuid" }, field)).toEqual({
            apiToken: "automation@pve!pulumi=0f7c-uuid",
        });
    });

    test.each([
        "automation@pve=secret",
        "automation!pulumi=secret",
        "automation@pve!pulumi",
        "automation@pve!pulumi=",
        "PVEAPIToken=a@pve!b=c",
        " a@pve!b=c",
    ])("rejects %j without echoing it", (apiToken) => {
        const errors = errorsOf(() => proxmoxSpec.parseCredentials({ apiToken }, field));
        expect(errors).toHaveLength(1);
        expect(errors[0]).toMatch(/^target\.proxmox\.apiToken: /);
        const secretPart = apiToken.split("=").slice(1).join("=");
        if (secretPart.length > 2) expect(errors[0]).not.toContain(secretPart);
    });

    test("a missing token names the field", () => {
        expect(errorsOf(() => proxmoxSpec.parseCredentials({}, field))).toEqual(["target.proxmox.apiToken: is required"]);
    });

    test("validateInputs reports proxmox target and credential errors with their fields", () => {
        const { errors } = validateInputs({
            platform: "proxmox",
            target: { ...good, vmId: 5 },
            credentials: { apiToken: "nope-secret-value" },
        });
        const messages = errors.map((e) => e.message);
        expect(messages.some((m) => m.startsWith("target.proxmox.vmId"))).toBe(true);
        expect(messages.some((m) => m.startsWith("target.proxmox.apiToken"))).toBe(true);
        expect(messages.join("\n")).not.toContain("nope-secret-value");
    });
});

describe("proxmox tasks and states", () => {
    test("UPIDs decode per pve-common (trailing colon, token user with !)", () => {
        expect(parseUpid("UPID:pve1:0003A1B2:00F0C0DE:66F0A1B2:qmshutdown:101:root@pam!ci:")).toMatchObject({
            node: "pve1",
            pid: 0x3a1b2,
            startTime: 0x66f0a1b2,
            type: "qmshutdown",
            id: "101",
            user: "root@pam!ci",
        });
        expect(parseUpid("UPID:pve1:0003A1B2:00F0C0DE:66F0A1B2:qmshutdown:101:root@pam!ci")).toBeUndefined();
        expect(parseUpid(null)).toBeUndefined();
    });

    test("OK and WARNINGS: n are success; anything else is the error text", () => {
        expect(taskSucceeded("OK")).toBe(true);
        expect(taskSucceeded("WARNINGS: 2")).toBe(true);
        expect(taskSucceeded("VM quit/powerdown failed - got timeout")).toBe(false);
        expect(taskSucceeded("unexpected status")).toBe(false);
        expect(taskSucceeded(undefined)).toBe(false);
    });

    test("status/current maps to observed states; a paused VM shows status running", () => {
        expect(observe({ status: "running", qmpstatus: "running" }).state).toBe("running");
        expect(observe({ status: "running", qmpstatus: "paused" })).toEqual({ state: "paused", detail: "status=running qmpstatus=paused" });
        expect(observe({ status: "running", qmpstatus: "prelaunch" }).state).toBe("paused");
        expect(observe({ status: "running", qmpstatus: "suspended" }).state).toBe("suspended");
        expect(observe({ status: "running", qmpstatus: "shutdown" }).state).toBe("stopping");
        expect(observe({ status: "stopped", qmpstatus: "stopped", lock: "suspended" })).toEqual({
            state: "stopped",
            detail: "status=stopped lock=suspended",
        });
    });
});
