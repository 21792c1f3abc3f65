import * as fs from "fs";
import * as path from "path";
import { loadSchema, privilegesFor, schemaFile } from "./schema";

/**
 * The contract data belongs to this repository: the schema fixture says which PVE release and
 * API viewer data it was transcribed from, and the server and its peer script read nothing
 * outside the repository.
 */
describe("Proxmox contract fixture", () => {
    const repository = path.resolve(__dirname, "../../..");

    test("the server reads the fixture in this repository, which names its source", () => {
        const file = schemaFile();
        expect(path.relative(repository, file)).toBe(path.join("test", "contracts", "proxmox", "fixtures", "pve-9.1-api-qemu-power.json"));
        const source = (JSON.parse(fs.readFileSync(file, "utf8")) as { _source: Record<string, unknown> })._source;
        expect(source.pveVersion).toMatch(/^Proxmox VE 9\.1/);
        expect(source.apiViewer).toContain("pve-docs/api-viewer");
        expect(source.apidataCommit).toMatch(/^proxmox\/pve-docs [0-9a-f]{40}/);
    });

    test("every endpoint the server answers is in it, and stop knows overrule-shutdown", () => {
        const paths = loadSchema().map((e) => e.path);
        for (const needed of [
            "/version",
            "/cluster/resources",
            "/nodes/{node}/qemu",
            "/nodes/{node}/qemu/{vmid}/status/current",
            "/nodes/{node}/qemu/{vmid}/status/shutdown",
            "/nodes/{node}/qemu/{vmid}/status/stop",
            "/nodes/{node}/qemu/{vmid}/status/start",
            "/nodes/{node}/qemu/{vmid}/agent/ping",
            "/nodes/{node}/tasks/{upid}/status",
            "/nodes/{node}/tasks/{upid}/log",
        ]) {
            expect(paths).toContain(needed);
        }
        const stop = loadSchema().find((e) => e.path === "/nodes/{node}/qemu/{vmid}/status/stop")!.info.POST;
        expect(Object.keys(stop.parameters.properties ?? {})).toContain("overrule-shutdown");
    });

    test("privileges per PVE version: the agent ping needs VM.Monitor on 8, VM.GuestAgent.Audit on 9", () => {
        expect(privilegesFor("8")["agent/ping"]).toEqual(["VM.Monitor"]);
        expect(privilegesFor("9")["agent/ping"]).toEqual(["VM.GuestAgent.Audit"]);
        expect(() => privilegesFor("6")).toThrow("no privileges for PVE 6");
    });

    test("nothing here or in the peer script refers to a folder beside the repository", () => {
        const files = [
            ...fs.readdirSync(__dirname).map((f) => path.join(__dirname, f)),
            path.join(repository, "scripts", "peers", "proxmox-contract.sh"),
        ].filter((f) => fs.statSync(f).isFile());
        const offenders = files.filter((f) => /\.\.\/shared|shared\/contracts/.test(fs.readFileSync(f, "utf8")));
        expect(offenders).toEqual([]);
    });
});
