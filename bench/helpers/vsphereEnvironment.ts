import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { vcsimVariables } from "../../test/vsphere/vcsim";

/** The vSphere peer's variables, starting it (scripts/peers/vsphere.sh) when they are not set. */
export function peerEnvironment(): Record<string, string> {
    if (vcsimVariables.every((v) => process.env[v])) return Object.fromEntries(vcsimVariables.map((v) => [v, process.env[v] as string]));
    // Compiled into .bench-out/bench/helpers: the script is three levels up there, or under the cwd.
    const script = path.resolve(__dirname, "..", "..", "..", "scripts", "peers", "vsphere.sh");
    const fallback = path.resolve(process.cwd(), "scripts", "peers", "vsphere.sh");
    const exports = execFileSync("bash", [fs.existsSync(script) ? script : fallback, "start"], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "inherit"],
    });
    const env: Record<string, string> = {};
    for (const line of exports.split("\n")) {
        const match = /^export ([A-Z_]+)=(.*)$/.exec(line.trim());
        if (match) env[match[1]] = match[2];
    }
    return env;
}
