import * as fs from "fs";
import * as https from "https";
import { DriverContext } from "../../src/drivers/platform";
import { VsphereDriver, VsphereTuning, openVsphereDriver } from "../../src/drivers/vsphere/driver";
import { VsphereCredentials, VsphereTarget, vsphereSpec } from "../../src/drivers/vsphere/spec";
import { systemClock } from "../../src/power/clock";

/** The vcsim peer's variables (scripts/peers/vsphere.sh exports them). */
export const vcsimVariables = ["VCSIM_URL", "VCSIM_USERNAME", "VCSIM_PASSWORD", "VCSIM_CA_FILE", "VCSIM_CTL_URL"] as const;

export interface Vcsim {
    readonly url: string;
    readonly username: string;
    readonly password: string;
    readonly caCert: string;
    readonly ctlUrl: string;
}

export function vcsimFrom(env: Record<string, string>): Vcsim {
    return {
        url: env.VCSIM_URL,
        username: env.VCSIM_USERNAME,
        password: env.VCSIM_PASSWORD,
        caCert: env.VCSIM_CA_FILE ? fs.readFileSync(env.VCSIM_CA_FILE, "utf8") : "",
        ctlUrl: env.VCSIM_CTL_URL,
    };
}

export interface VmBehaviour {
    readonly tools?: "running" | "notRunning" | "notInstalled";
    readonly shutdown?: "ok" | "hang" | "fault";
    readonly delay?: string;
}

/** Sets one VM's simulated guest behaviour through the control endpoint (no auth, JSON). */
export function setBehaviour(sim: Vcsim, vm: string, behaviour: VmBehaviour): Promise<Record<string, unknown>> {
    const query = new URLSearchParams({ name: vm, tools: "running", shutdown: "ok", delay: "1s", ...behaviour });
    return new Promise((resolve, reject) => {
        // agent: false: no kept-alive socket outlives the test file.
        const request = https.request(`${sim.ctlUrl}/vm?${query}`, { method: "POST", ca: sim.caCert, agent: false }, (response) => {
            let body = "";
            response.on("data", (chunk: Buffer) => (body += chunk.toString()));
            response.on("end", () => {
                if (response.statusCode !== 200) reject(new Error(`vcsim-ctl ${response.statusCode}: ${body}`));
                else resolve(JSON.parse(body) as Record<string, unknown>);
            });
        });
        request.on("error", reject);
        request.end();
    });
}

export function rawTarget(sim: Vcsim, vm: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
    return { url: sim.url, username: sim.username, vm, caCert: sim.caCert, ...extra };
}

export function parsedTarget(sim: Vcsim, vm: string, extra: Record<string, unknown> = {}): VsphereTarget {
    return vsphereSpec.parseTarget(rawTarget(sim, vm, extra), "target.vsphere");
}

export function credentials(sim: Vcsim, password = sim.password): VsphereCredentials {
    return vsphereSpec.parseCredentials({ password }, "target.vsphere");
}

export function context(logs: string[] = []): DriverContext {
    return { clock: systemClock, log: (m) => logs.push(m) };
}

export function open(sim: Vcsim, vm: string, tuning: VsphereTuning = {}, logs: string[] = []): Promise<VsphereDriver> {
    return openVsphereDriver(parsedTarget(sim, vm), credentials(sim), context(logs), tuning);
}

/** Brings a VM to a power state directly, so each case starts from a known state. */
export async function ensurePower(sim: Vcsim, vm: string, state: "running" | "stopped"): Promise<void> {
    const driver = await open(sim, vm);
    try {
        const now = await driver.readState();
        if (now.state === state) return;
        if (state === "running") await driver.powerOn();
        else await driver.powerOffHard();
    } finally {
        await driver.close();
    }
}

/** Sum of a driver's SOAP calls, and one method's count. */
export function calls(driver: VsphereDriver, method?: string): number {
    if (method) return driver.soapCalls.get(method) ?? 0;
    let total = 0;
    for (const count of driver.soapCalls.values()) total += count;
    return total;
}
