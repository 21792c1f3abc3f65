import { azureSpec } from "../../src/drivers/azure/spec";
import { libvirtSpec } from "../../src/drivers/libvirt/spec";
import { proxmoxSpec } from "../../src/drivers/proxmox/spec";
import { vsphereSpec } from "../../src/drivers/vsphere/spec";
import { errorsOf } from "../helpers/inputErrors";

const libvirt = (uri: string, extra: Record<string, unknown> = {}): unknown =>
    libvirtSpec.parseTarget({ uri, domain: "web-1", ...extra }, "target.libvirt");

describe("a libvirt URI cannot run a program or switch a verification off unasked", () => {
    test.each([
        ["qemu+ext:///system?command=/tmp/evil", "the ext transport runs a program"],
        ["qemu+ext:///system", "ext without a command"],
        ["qemu+ssh://admin@host/system?netcat=/tmp/evil", "netcat names a remote program"],
        ["qemu:///system?command=/tmp/evil", "command on another transport"],
        ["qemu:///system?Command=x", "an unknown parameter (case differs)"],
        ["qemu:///system?foo=bar", "an unknown parameter"],
        ["qemu+xyz://host/system", "an unknown transport"],
        ["esx://host/?no_verify=1", "an unsupported driver"],
        ["http://host/system", "not a libvirt scheme"],
        ["qemu:///system?mode=weird", "a parameter value outside its set"],
    ])("refuses %s (%s), naming target.libvirt.uri", (uri) => {
        expect(errorsOf(() => libvirt(uri)).map((e) => e.field)).toEqual(["target.libvirt.uri"]);
        // Opting in to insecure does not make a program runnable.
        if (/ext|command|netcat|xyz|esx|http|foo|Command|weird/.test(uri)) {
            expect(errorsOf(() => libvirt(uri, { insecure: true })).map((e) => e.field)).toEqual(["target.libvirt.uri"]);
        }
    });

    test.each([
        "qemu+tls://host/system?no_verify=1",
        "qemu+tcp://10.0.0.5/system",
        "qemu+ssh://admin@host/system?known_hosts_verify=ignore",
        "qemu+tls://host/system?tls_priority=NORMAL:-VERS-TLS1.3",
    ])("%s needs insecure: true, which is then reported", (uri) => {
        expect(errorsOf(() => libvirt(uri))[0]).toMatchObject({ field: "target.libvirt.uri", message: expect.stringMatching(/insecure/) });
        const target = libvirtSpec.parseTarget({ uri, domain: "web-1", insecure: true }, "target.libvirt");
        expect(libvirtSpec.describe(target)).toMatch(/not verified/);
        expect(libvirtSpec.warnings?.(target, 60_000).join(" ")).toMatch(/insecure is true/);
    });

    test.each([
        "qemu:///system",
        "qemu+ssh://admin@kvm-1:2222/system?keyfile=/home/ci/.ssh/id_ed25519&known_hosts_verify=normal",
        "qemu+tls://host/system?pkipath=/etc/pki/libvirt&no_verify=0",
        "qemu:///system?socket=/run/libvirt/libvirt-sock&mode=direct",
        "lxc:///system",
        "test:///default",
    ])("accepts %s without insecure", (uri) => {
        expect(libvirt(uri)).toMatchObject({ uri });
    });

    const passwords = ["hunter2", "pa/ss", "pa?ss", "p#w", "a@b", "x:y", "%2F%3F", "sp ace", "ü/€"];
    test.each(passwords)("a password inside the URI is refused and never quoted back (%s)", (password) => {
        const secret = `Zq${password}Zq`;
        for (const uri of [`qemu+ssh://admin:${secret}@host/system`, `qemu+ssh://admin:${secret}@host:22/system?keyfile=/k`]) {
            const errors = errorsOf(() => libvirt(uri));
            expect(errors.map((e) => e.field)).toEqual(["target.libvirt.uri"]);
            expect(errors[0].message).not.toContain(secret);
            expect(errors[0].message).not.toContain(encodeURIComponent(secret));
        }
    });
});

describe("every URL-like field of every platform: scheme, embedded credentials, query", () => {
    const vsphere = (url: string): unknown => vsphereSpec.parseTarget({ url, username: "u", vm: "web-1" }, "target.vsphere");
    const proxmox = (endpoint: string): unknown => proxmoxSpec.parseTarget({ endpoint, node: "pve1", vmId: 100 }, "target.proxmox");
    const azure = (key: string, value: string): unknown =>
        azureSpec.parseTarget(
            { subscriptionId: "00000000-0000-0000-0000-000000000000", resourceGroupName: "rg", vmName: "vm", [key]: value },
            "target.azure",
        );
    const fields: Array<[string, (url: string) => unknown]> = [
        ["target.vsphere.url", vsphere],
        ["target.proxmox.endpoint", proxmox],
        ["target.azure.resourceManagerEndpoint", (u) => azure("resourceManagerEndpoint", u)],
        ["target.azure.authorityHost", (u) => azure("authorityHost", u)],
    ];
    const secret = "Zqpa/ss?w0rd#Zq";
    const bad = [
        `https://admin:${secret}@host:443/`,
        `https://admin:${secret}@host/`,
        `admin:${secret}@host`,
        "http://host/",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "https://host/?token=x",
        "https://host/#frag",
        "https://",
    ];
    for (const [field, parse] of fields) {
        test.each(bad)(`${field}: refuses %s without quoting a password`, (url) => {
            const errors = errorsOf(() => parse(url));
            expect(errors.map((e) => e.field)).toEqual([field]);
            for (const form of [secret, encodeURIComponent(secret), "pa/ss", "w0rd"]) expect(errors[0].message).not.toContain(form);
        });
    }
});
