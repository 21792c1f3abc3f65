import * as https from "https";
import type { AddressInfo } from "net";
import { TestCertificate, makeSelfSignedCertificate } from "../contracts/proxmox/cert";

/** A loopback HTTPS server that counts what reached it and answers `body` to everything. */
export interface TlsTestServer {
    readonly url: string;
    readonly certificate: TestCertificate;
    /** Requests that got past the TLS handshake (so whatever they carried was sent). */
    readonly requests: Array<{ method: string; url: string; headers: Record<string, unknown>; body: string }>;
    close(): Promise<void>;
}

let cached: TestCertificate[] = [];

/** Self-signed certificates for 127.0.0.1, made once per test file (openssl is slow-ish). */
export function testCertificate(index = 0): TestCertificate {
    while (cached.length <= index) cached = [...cached, makeSelfSignedCertificate(`tls-test-${cached.length}.localhost`)];
    return cached[index];
}

export async function startTlsServer(
    certificate: TestCertificate,
    answer: (request: { method: string; url: string; body: string; headers: Record<string, unknown> }) => {
        status: number;
        body: string;
        headers?: Record<string, string>;
    } = () => ({ status: 200, body: "{}" }),
): Promise<TlsTestServer> {
    const requests: TlsTestServer["requests"] = [];
    const server = https.createServer({ key: certificate.key, cert: certificate.cert }, (req, res) => {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => {
            const request = {
                method: req.method ?? "",
                url: req.url ?? "",
                headers: req.headers,
                body: Buffer.concat(chunks).toString("utf8"),
            };
            requests.push(request);
            const reply = answer(request);
            res.writeHead(reply.status, { "Content-Type": "application/json", ...(reply.headers ?? {}) });
            res.end(reply.body);
        });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    return {
        url: `https://127.0.0.1:${port}`,
        certificate,
        requests,
        close: () =>
            new Promise<void>((resolve) => {
                server.closeAllConnections();
                server.close(() => resolve());
            }),
    };
}
