import { execFileSync } from "child_process";
import { X509Certificate } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

/** A throw-away server certificate for 127.0.0.1 / localhost, made with the openssl CLI. */
export interface TestCertificate {
    readonly key: string;
    readonly cert: string;
    /** `AA:BB:...`, as PVE shows a node certificate's fingerprint. */
    readonly fingerprint256: string;
}

/**
 * Node's crypto can make keys but not X.509 certificates, so this shells out to openssl
 * (present on Debian with ca-certificates; `apt-get install openssl` otherwise).
 */
export function makeSelfSignedCertificate(commonName = "pve-contract.localhost"): TestCertificate {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pve-contract-cert-"));
    try {
        const keyFile = path.join(dir, "key.pem");
        const certFile = path.join(dir, "cert.pem");
        try {
            execFileSync(
                "openssl",
                [
                    "req",
                    "-x509",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:prime256v1",
                    "-nodes",
                    "-keyout",
                    keyFile,
                    "-out",
                    certFile,
                    "-days",
                    "2",
                    "-subj",
                    `/CN=${commonName}`,
                    "-addext",
                    "subjectAltName=IP:127.0.0.1,DNS:localhost",
                ],
                { stdio: ["ignore", "ignore", "pipe"] },
            );
        } catch (e) {
            throw new Error(
                `the Proxmox contract server needs the openssl CLI to make its certificate (apt-get install openssl): ${e instanceof Error ? e.message : String(e)}`,
            );
        }
        const cert = fs.readFileSync(certFile, "utf8");
        return { key: fs.readFileSync(keyFile, "utf8"), cert, fingerprint256: new X509Certificate(cert).fingerprint256 };
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}
