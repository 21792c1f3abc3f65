import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { encodedForms } from "../../src/drivers/common/redact";
import { cli } from "../cli/helpers";
import { TlsTestServer, startTlsServer, testCertificate } from "./tlsServer";

/**
 * The leak suite: every platform's client runs (through the CLI, as a user would) against a
 * loopback server that echoes what it received (headers and body) back in its platform's own
 * error format: JSON-escaped, inside a SOAP fault (XML-escaped), form-encoded. Secrets, and the
 * tokens and cookies obtained with them, are full of characters each encoding changes.
 */
const specials = `<&>"'%+/{`;
const unicode = "ü€🔑";

type Echo = (request: { method: string; url: string; body: string; headers: Record<string, unknown> }) => {
    status: number;
    body: string;
    headers?: Record<string, string>;
};

const echoOf = (request: { url: string; body: string; headers: Record<string, unknown> }): string =>
    JSON.stringify({ url: request.url, headers: request.headers, body: request.body });

const xmlEscape = (text: string): string =>
    text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&apos;");

const soap = (inner: string): string =>
    `<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>${inner}</soapenv:Body></soapenv:Envelope>`;

const serviceContent = soap(
    `<RetrieveServiceContentResponse xmlns="urn:vim25"><returnval><rootFolder type="Folder">group-d1</rootFolder><propertyCollector type="PropertyCollector">propertyCollector</propertyCollector><searchIndex type="SearchIndex">SearchIndex</searchIndex><sessionManager type="SessionManager">SessionManager</sessionManager><about><apiType>VirtualCenter</apiType><apiVersion>8.0</apiVersion><fullName>echo</fullName></about></returnval></RetrieveServiceContentResponse>`,
);

interface LeakCase {
    readonly name: string;
    /** The secrets that must not come out, in any form: given ones and those the server handed out. */
    readonly secrets: readonly string[];
    readonly env: Record<string, string>;
    readonly target: (server: TlsTestServer) => Record<string, unknown>;
    readonly echo: Echo;
}

const vspherePassword = `Pw${specials}${unicode} =;x`;
const vsphereCookie = `Ck<&>'%+/{x`;
const azureSecret = `Cs${specials}${unicode} =;x`;
const azureToken = `At${specials}x.y`;
const proxmoxSecret = `Tk${specials}x`;
const proxmoxToken = `leak@pve!ci=${proxmoxSecret}`;
const azureIds = {
    subscriptionId: "11111111-1111-1111-1111-111111111111",
    resourceGroupName: "rg",
    vmName: "vm-1",
    tenantId: "22222222-2222-2222-2222-222222222222",
    clientId: "33333333-3333-3333-3333-333333333333",
    credential: "clientSecret",
};

const cases: LeakCase[] = [
    {
        name: "vsphere: Login fault echoing the request (XML-escaped password, session cookie)",
        secrets: [vspherePassword, vsphereCookie],
        env: { GRACEFUL_VM_PASSWORD: vspherePassword },
        target: (s) => ({ vsphere: { url: `${s.url}/sdk`, username: "svc", vm: "web-1", caCert: s.certificate.cert } }),
        echo: (r): ReturnType<Echo> =>
            r.body.includes("RetrieveServiceContent")
                ? {
                      status: 200,
                      body: serviceContent,
                      headers: { "Set-Cookie": `vmware_soap_session="${vsphereCookie}"; Path=/`, "Content-Type": "text/xml" },
                  }
                : {
                      status: 500,
                      headers: { "Content-Type": "text/xml" },
                      body: soap(
                          `<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>${xmlEscape(echoOf(r))}</faultstring></soapenv:Fault>`,
                      ),
                  },
    },
    {
        name: "azure: token endpoint error echoing the form-encoded client secret",
        secrets: [azureSecret],
        env: { GRACEFUL_VM_CLIENT_SECRET: azureSecret },
        target: (s) => ({ azure: { ...azureIds, resourceManagerEndpoint: s.url, authorityHost: s.url, caCert: s.certificate.cert } }),
        echo: (r) => ({ status: 401, body: JSON.stringify({ error: "invalid_client", error_description: `bad: ${r.body}` }) }),
    },
    {
        name: "azure: ARM 401 echoing the bearer token it was given",
        secrets: [azureSecret, azureToken],
        env: { GRACEFUL_VM_CLIENT_SECRET: azureSecret },
        target: (s) => ({ azure: { ...azureIds, resourceManagerEndpoint: s.url, authorityHost: s.url, caCert: s.certificate.cert } }),
        echo: (r) =>
            r.url.includes("oauth2")
                ? { status: 200, body: JSON.stringify({ access_token: azureToken, expires_in: 3600, token_type: "Bearer" }) }
                : {
                      status: 401,
                      body: JSON.stringify({ error: { code: "InvalidAuthenticationToken", message: `rejected ${echoOf(r)}` } }),
                  },
    },
    {
        name: "proxmox: 500 echoing the Authorization header in the message",
        secrets: [proxmoxToken, proxmoxSecret],
        env: { GRACEFUL_VM_API_TOKEN: proxmoxToken },
        target: (s) => ({ proxmox: { endpoint: s.url, node: "pve1", vmId: 100, caCert: s.certificate.cert } }),
        echo: (r) => ({ status: 500, body: JSON.stringify({ data: null, message: `echo ${echoOf(r)}` }) }),
    },
    {
        name: "proxmox: 401 echoing the token",
        secrets: [proxmoxToken, proxmoxSecret],
        env: { GRACEFUL_VM_API_TOKEN: proxmoxToken },
        target: (s) => ({ proxmox: { endpoint: s.url, node: "pve1", vmId: 100, caCert: s.certificate.cert } }),
        echo: (r) => ({ status: 401, body: JSON.stringify({ data: null, message: `no ${String(r.headers.authorization)}` }) }),
    },
    {
        name: "proxmox: a 200 that is no envelope, echoing the request JSON-escaped",
        secrets: [proxmoxToken, proxmoxSecret],
        env: { GRACEFUL_VM_API_TOKEN: proxmoxToken },
        target: (s) => ({ proxmox: { endpoint: s.url, node: "pve1", vmId: 100, caCert: s.certificate.cert } }),
        echo: (r) => ({ status: 200, body: echoOf(r) }),
    },
];

/** Independent of the redactor's own list: the encodings the review used. */
function plainForms(secret: string): string[] {
    return [
        secret,
        encodeURIComponent(secret),
        new URLSearchParams({ s: secret }).toString().slice(2),
        xmlEscape(secret),
        JSON.stringify(secret).slice(1, -1),
        Buffer.from(secret).toString("base64"),
    ];
}

let dir: string;
beforeAll(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "leaks-"))));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("leak suite: echoing servers, secrets in every encoding", () => {
    test.each(cases.map((c) => [c.name, c] as const))("%s", async (_name, leak) => {
        const server = await startTlsServer(testCertificate(0), leak.echo);
        try {
            const config = path.join(dir, `${leak.name.replace(/\W+/g, "-")}.json`);
            fs.writeFileSync(config, JSON.stringify({ target: leak.target(server) }));
            const outputs = [];
            for (const args of [
                ["status", "--json"],
                ["off", "--graceful", "--timeout", "2s", "--json"],
            ]) {
                const result = await cli([...args, "--config", config], leak.env);
                expect(result.code).not.toBe(0);
                outputs.push(result.stdout, result.stderr);
            }
            const output = outputs.join("\n");
            // The server really echoed a secret, and it was scrubbed.
            expect(server.requests.length).toBeGreaterThan(0);
            expect(output).toContain("***");
            for (const secret of leak.secrets) {
                for (const form of new Set([...plainForms(secret), ...encodedForms(secret)])) expect(output).not.toContain(form);
            }
        } finally {
            await server.close();
        }
    });
});
