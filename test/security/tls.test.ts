import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { HttpClient } from "../../src/drivers/azure/http";
import { azureSpec } from "../../src/drivers/azure/spec";
import { ProxmoxClient } from "../../src/drivers/proxmox/client";
import { proxmoxSpec } from "../../src/drivers/proxmox/spec";
import { SoapTransport } from "../../src/drivers/vsphere/soap";
import { vsphereSpec } from "../../src/drivers/vsphere/spec";
import { errorsOf } from "../helpers/inputErrors";
import { TlsTestServer, startTlsServer, testCertificate } from "./tlsServer";

/** What one HTTPS client of ours made of a server: it talked HTTP to it, or TLS refused it. */
type Outcome = "reached" | "refused";
type Client = "azure" | "proxmox" | "vsphere";
const clients: Client[] = ["azure", "proxmox", "vsphere"];

async function reach(client: Client, server: TlsTestServer, trust: { caCert?: string }): Promise<Outcome> {
    const classify = (e: unknown): Outcome => {
        const text = e instanceof Error ? e.message : String(e);
        if (/certificate|self.signed|CERT|not trusted|UNABLE_TO/i.test(text)) return "refused";
        return "reached";
    };
    if (client === "azure") {
        const http = new HttpClient(trust.caCert);
        try {
            await http.send({ method: "GET", url: new URL(`${server.url}/probe`) });
            return "reached";
        } catch (e) {
            return classify(e);
        } finally {
            http.close();
        }
    }
    if (client === "proxmox") {
        const pve = ProxmoxClient.connect({ endpoint: server.url, apiToken: "root@pam!t=s3cret", ...trust });
        try {
            await pve.get("/version");
            return "reached";
        } catch (e) {
            return classify(e);
        } finally {
            pve.close();
        }
    }
    const soap = new SoapTransport({ url: new URL(`${server.url}/sdk`), ...trust });
    try {
        await soap.call("RetrieveServiceContent", { type: "ServiceInstance", value: "ServiceInstance" }, "");
        return "reached";
    } catch (e) {
        return classify(e);
    } finally {
        soap.destroy();
    }
}

/** The compiled clients (npm test builds lib/ first), driven from a child process with its own environment. */
function reachFromChild(client: Client, url: string, env: Record<string, string>): Promise<string> {
    const lib = path.join(__dirname, "..", "..", "lib", "src", "drivers");
    const script = `
        const lib = ${JSON.stringify(lib)};
        const url = ${JSON.stringify(url)};
        const attempts = {
            azure: () => { const c = new (require(lib + "/azure/http").HttpClient)(); return c.send({ method: "GET", url: new URL(url + "/probe") }).finally(() => c.close()); },
            proxmox: () => { const c = require(lib + "/proxmox/client").ProxmoxClient.connect({ endpoint: url, apiToken: "root@pam!t=s3cret" }); return c.get("/version").finally(() => c.close()); },
            vsphere: () => { const c = new (require(lib + "/vsphere/soap").SoapTransport)({ url: new URL(url + "/sdk") }); return c.call("RetrieveServiceContent", { type: "ServiceInstance", value: "ServiceInstance" }, "").finally(() => c.destroy()); },
        };
        attempts[${JSON.stringify(client)}]().then(
            () => console.log("reached"),
            (e) => console.log(/certificate|self.signed|CERT|not trusted|UNABLE_TO/i.test(e.message) ? "refused" : "reached"),
        );`;
    return new Promise((resolve, reject) =>
        execFile(process.execPath, ["-e", script], { env: { ...process.env, ...env } }, (error, stdout) =>
            error ? reject(error) : resolve(stdout.trim()),
        ),
    );
}

const savedEnv = { ...process.env };
let servers: TlsTestServer[] = [];
afterEach(async () => {
    for (const key of Object.keys(process.env)) if (!(key in savedEnv)) delete process.env[key];
    Object.assign(process.env, savedEnv);
    await Promise.all(servers.map((s) => s.close()));
    servers = [];
    jest.restoreAllMocks();
});

async function server(index = 0): Promise<TlsTestServer> {
    const started = await startTlsServer(testCertificate(index), () => ({ status: 200, body: '{"data":{}}' }));
    servers.push(started);
    return started;
}

describe("one TLS rule for every HTTPS client", () => {
    test.each(clients)("%s: NODE_TLS_REJECT_UNAUTHORIZED=0 does not switch verification off", async (client) => {
        // Jest gives tests a copy of process.env that Node's TLS code never reads: use a real process.
        const untrusted = await server();
        const outcome = await reachFromChild(client, untrusted.url, { NODE_TLS_REJECT_UNAUTHORIZED: "0" });
        expect(outcome).toBe("refused");
        // Nothing, so no credential, reached the unverified server.
        expect(untrusted.requests).toHaveLength(0);
    });

    test.each(clients)("%s: caCert is trusted in addition to NODE_EXTRA_CA_CERTS, not instead of it", async (client) => {
        const viaCaCert = await server(0);
        const viaEnvironment = await server(1);
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "extra-ca-"));
        const extra = path.join(dir, "extra.pem");
        fs.writeFileSync(extra, viaEnvironment.certificate.cert);
        process.env.NODE_EXTRA_CA_CERTS = extra;
        const trust = { caCert: viaCaCert.certificate.cert };
        expect(await reach(client, viaCaCert, trust)).toBe("reached");
        expect(await reach(client, viaEnvironment, trust)).toBe("reached");
        fs.rmSync(dir, { recursive: true, force: true });
    });

    test.each(clients)("%s: without caCert an unknown CA is refused", async (client) => {
        const untrusted = await server();
        expect(await reach(client, untrusted, {})).toBe("refused");
    });

    test.each(clients)("%s: the secure context for a CA bundle is built once, not per connection", async (client) => {
        const trusted = await server();
        const caCert = trusted.certificate.cert;
        await reach(client, trusted, { caCert }); // warm: the bundle's context may be built here
        // The module object itself: Node's TLS socket code looks the function up on it for every connection.
        const built = jest.spyOn(require("tls") as typeof import("tls"), "createSecureContext");
        for (let i = 0; i < 5; i++) expect(await reach(client, trusted, { caCert })).toBe("reached");
        expect(built).not.toHaveBeenCalled();
    });
});

describe("one caCert validator", () => {
    const specs = [
        {
            name: "vsphere",
            parse: (caCert: unknown) =>
                vsphereSpec.parseTarget({ url: "https://vc.example.com/sdk", username: "u", vm: "web-1", caCert }, "target.vsphere"),
        },
        {
            name: "proxmox",
            parse: (caCert: unknown) =>
                proxmoxSpec.parseTarget({ endpoint: "https://pve:8006", node: "pve1", vmId: 100, caCert }, "target.proxmox"),
        },
        {
            name: "azure",
            parse: (caCert: unknown) =>
                azureSpec.parseTarget(
                    { subscriptionId: "00000000-0000-0000-0000-000000000000", resourceGroupName: "rg", vmName: "vm", caCert },
                    "target.azure",
                ),
        },
    ];
    const cert = (): string => testCertificate(0).cert;
    const bad: Array<[string, () => unknown]> = [
        ["plain text", () => "hello"],
        ["a CERTIFICATE block that is no certificate", () => "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"],
        ["a private key", () => testCertificate(0).key],
        ["a certificate followed by its private key", () => `${cert()}\n${testCertificate(0).key}`],
        ["a public key", () => "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----"],
        ["a certificate and an unclosed block", () => `${cert()}\n-----BEGIN CERTIFICATE-----\nMIIB`],
        ["a number", () => 42],
    ];
    for (const spec of specs) {
        test.each(bad)(`${spec.name}: refuses %s, naming caCert`, (_what, value) => {
            const errors = errorsOf(() => spec.parse(value()));
            expect(errors.map((e) => e.field)).toEqual([`target.${spec.name}.caCert`]);
            expect(errors[0].message).not.toContain("PRIVATE KEY-----\n");
        });
        test(`${spec.name}: accepts a real certificate bundle`, () => {
            expect(spec.parse(`${cert()}\n${testCertificate(1).cert}`)).toMatchObject({
                caCert: expect.stringContaining("BEGIN CERTIFICATE"),
            });
        });
    }
});
