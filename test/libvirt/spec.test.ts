import * as fc from "fast-check";
import { parseDomstate } from "../../src/drivers/libvirt/domstate";
import { parseLifecycleLine } from "../../src/drivers/libvirt/events";
import { libvirtSpec } from "../../src/drivers/libvirt/spec";
import { InputError, InputErrors } from "../../src/power/errors";

const field = "target.libvirt";

function fieldsOf(fn: () => unknown): string[] {
    try {
        fn();
    } catch (e) {
        if (e instanceof InputErrors) return e.errors.map((x) => x.field);
        if (e instanceof InputError) return [e.field];
        throw e;
    }
    return [];
}

describe("libvirt target validation", () => {
    test.each([
        "qemu:///system",
        "qemu:///session",
        "test:///default",
        "qemu+ssh://admin@kvm-1.example.com/system",
        "qemu+ssh://admin@kvm-1:2222/system?keyfile=/home/ci/.ssh/id_ed25519&no_verify=0",
        "qemu:///system?socket=/tmp/libvirt-peer/run/libvirt-sock",
        "qemu+ssh://root@[2001:db8::1]/system",
        "xen:///",
    ])("accepts %s", (uri) => {
        expect(libvirtSpec.parseTarget({ uri, domain: "web-1" }, field)).toMatchObject({ uri, domain: "web-1", shutdownMode: "auto" });
    });

    test("fills the defaults", () => {
        expect(libvirtSpec.parseTarget({ domain: "web-1" }, field)).toEqual({
            uri: "qemu:///system",
            domain: "web-1",
            shutdownMode: "auto",
            commandTimeoutMs: 30_000,
        });
        expect(libvirtSpec.parseTarget({ domain: "d", shutdownMode: "agent", commandTimeout: "1m" }, field)).toMatchObject({
            shutdownMode: "agent",
            commandTimeoutMs: 60_000,
        });
    });

    test.each([
        ["qemu:///system; reboot", "shell separator"],
        ["qemu:///system$(id)", "command substitution"],
        ["qemu:///system\nfoo", "newline"],
        ["qemu:///sys tem", "space"],
        ["qemu:///system?socket=/a`id`", "backtick"],
        ["/var/run/libvirt/libvirt-sock", "bare path"],
        ["system", "no scheme"],
        ["qemu+ssh://admin:hunter2@host/system", "password"],
    ])("rejects %j (%s) naming target.libvirt.uri", (uri) => {
        expect(fieldsOf(() => libvirtSpec.parseTarget({ uri, domain: "d" }, field))).toEqual(["target.libvirt.uri"]);
    });

    test("never echoes an embedded password", () => {
        expect(() => libvirtSpec.parseTarget({ uri: "qemu+ssh://admin:hunter2@host/system", domain: "d" }, field)).toThrow(
            /must not embed a password/,
        );
        try {
            libvirtSpec.parseTarget({ uri: "qemu+ssh://admin:hunter2@host/system", domain: "d" }, field);
        } catch (e) {
            expect(String(e)).not.toContain("hunter2");
        }
    });

    test.each([
        [{ uri: "qemu:///system" }, ["target.libvirt.domain"]],
        [{ domain: "a/b" }, ["target.libvirt.domain"]],
        [{ domain: "web\u00071" }, ["target.libvirt.domain"]],
        [{ domain: "x".repeat(256) }, ["target.libvirt.domain"]],
        [{ domain: "d", shutdownMode: "powerbutton" }, ["target.libvirt.shutdownMode"]],
        [{ domain: "d", commandTimeout: "soon" }, ["target.libvirt.commandTimeout"]],
        [{ domain: "d", connection: "qemu:///system" }, ["target.libvirt.connection"]],
        [{ uri: "bad uri", domain: "" }, ["target.libvirt.uri", "target.libvirt.domain"]],
    ])("rejects %j naming %j", (raw, fields) => {
        expect(fieldsOf(() => libvirtSpec.parseTarget(raw, field)).sort()).toEqual([...fields].sort());
    });

    test("any printable name without a slash is accepted as a domain", () => {
        fc.assert(
            fc.property(fc.string({ minLength: 1, maxLength: 255 }), (name) => {
                const valid = !/[/\u0000-\u001f\u007f]/.test(name) && name.trim() === name;
                expect(fieldsOf(() => libvirtSpec.parseTarget({ domain: name }, field))).toEqual(valid ? [] : ["target.libvirt.domain"]);
            }),
        );
    });

    test("takes no credentials, and says which field was unexpected", () => {
        expect(libvirtSpec.parseCredentials(undefined, field)).toEqual({});
        expect(fieldsOf(() => libvirtSpec.parseCredentials({ password: "x" }, field))).toEqual(["target.libvirt.password"]);
    });

    test("identity is the URI and the domain", () => {
        expect(libvirtSpec.identityFields).toEqual(["uri", "domain"]);
        expect(libvirtSpec.describe(libvirtSpec.parseTarget({ domain: "web-1" }, field))).toBe("qemu:///system domain web-1");
    });
});

describe("virsh output parsing", () => {
    test.each([
        ["shut off (shutdown)\n\n", "stopped", "shut off (shutdown)"],
        ["shut off (destroyed)", "stopped", "shut off (destroyed)"],
        ["shut off (unknown)", "stopped", "shut off (unknown)"],
        ["running (booted)", "running", "running (booted)"],
        ["running (unpaused)", "running", "running (unpaused)"],
        ["paused (user)", "paused", "paused (user)"],
        ["paused (starting up)", "starting", "paused (starting up)"],
        ["paused (shutting down)", "stopping", "paused (shutting down)"],
        ["in shutdown (unknown)", "stopping", "in shutdown (unknown)"],
        ["pmsuspended (unknown)", "suspended", "pmsuspended (unknown)"],
        ["crashed (panicked)", "paused", "crashed (panicked)"],
        ["idle", "running", "idle"],
        ["no state", "unknown", "no state"],
        ["", "unknown", "no output"],
    ])("domstate %j -> %s", (output, state, detail) => {
        expect(parseDomstate(output)).toMatchObject({ state, detail });
    });

    test.each([
        ["shut off (shutdown)", "guest"],
        ["shut off (destroyed)", "external"],
        ["shut off (crashed)", "external"],
        // libvirtd killed it while reconnecting after its own restart (the contract suite's
        // "daemon restarting at the deadline" case): a hung guest, never its own shutdown.
        ["shut off (daemon)", "external"],
        ["shut off (saved)", "external"],
        ["shut off (migrated)", "external"],
        ["shut off (from snapshot)", "external"],
        ["shut off (unknown)", undefined],
        ["running (booted)", undefined],
    ])("domstate %j: stopped by %s", (output, stoppedBy) => {
        expect(parseDomstate(output).stoppedBy).toBe(stoppedBy);
    });

    test("lifecycle event lines", () => {
        expect(parseLifecycleLine("event 'lifecycle' for domain 'vm1': Stopped Shutdown")).toEqual({
            event: "Stopped",
            detail: "Shutdown",
        });
        expect(
            parseLifecycleLine("2026-11-23 13:02:09.793+0000: event 'lifecycle' for domain 'it's': Shutdown Finished after guest request"),
        ).toEqual({
            event: "Shutdown",
            detail: "Finished after guest request",
        });
        expect(parseLifecycleLine("events received: 2")).toBeUndefined();
    });
});
