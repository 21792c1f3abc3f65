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

/** The same simulator in standalone ESXi mode (scripts/peers/vsphere.sh starts both). */
export const vcsimEsxVariables = [
    "VCSIM_ESX_URL",
    "VCSIM_ESX_USERNAME",
    "VCSIM_ESX_PASSWORD",
    "VCSIM_ESX_CA_FILE",
    "VCSIM_ESX_CTL_URL",
] as const;

export function vcsimEsxFrom(env: Record<string, string>): Vcsim {
    return vcsimFrom({
        VCSIM_URL: env.VCSIM_ESX_URL,
        VCSIM_USERNAME: env.VCSIM_ESX_USERNAME,
        VCSIM_PASSWORD: env.VCSIM_ESX_PASSWORD,
        VCSIM_CA_FILE: env.VCSIM_ESX_CA_FILE,
        VCSIM_CTL_URL: env.VCSIM_ESX_CTL_URL,
    });
}

/** A simulated guest (test/peers/vsphere/README.md); fields left out get the defaults below. */
export interface VmBehaviour {
    readonly tools?: "running" | "notRunning" | "notInstalled";
    readonly shutdown?: "ok" | "hang" | "fault";
    readonly delay?: string;
    /** `auto` follows tools and shutdown; otherwise guest.guestState while the VM is on. */
    readonly guestState?: "auto" | "running" | "shuttingDown" | "notRunning";
    /** How long tools report guestToolsExecutingScripts after a power-on (and from now). */
    readonly toolsStarting?: string;
    /** Answered by the next `shutdownFaultCount` ShutdownGuest calls. */
    readonly shutdownFault?: "none" | "TaskInProgress" | "InvalidState" | "SystemError";
    readonly shutdownFaultCount?: number;
}

const defaultBehaviour = {
    tools: "running",
    shutdown: "ok",
    delay: "1s",
    guestState: "auto",
    toolsStarting: "0s",
    shutdownFault: "none",
    shutdownFaultCount: "0",
};

/** One call to the simulator's control endpoint (no auth, JSON); rejects unless HTTP 2xx. */
export function control<T = Record<string, unknown>>(
    sim: Vcsim,
    path: string,
    params: Record<string, string | number> = {},
    method: "GET" | "POST" = "POST",
): Promise<T> {
    const query = new URLSearchParams(Object.entries(params).map(([k, v]): [string, string] => [k, String(v)]));
    return new Promise((resolve, reject) => {
        // agent: false: no kept-alive socket outlives the test file.
        const request = https.request(`${sim.ctlUrl}/${path}?${query}`, { method, ca: sim.caCert, agent: false }, (response) => {
            let body = "";
            response.on("data", (chunk: Buffer) => (body += chunk.toString()));
            response.on("end", () => {
                const status = response.statusCode ?? 0;
                if (status < 200 || status > 299) reject(new Error(`vcsim-ctl ${path} ${status}: ${controlError(body)}`));
                else resolve(JSON.parse(body) as T);
            });
        });
        request.on("error", reject);
        request.end();
    });
}

function controlError(body: string): string {
    try {
        return String((JSON.parse(body) as { error?: unknown }).error ?? body);
    } catch {
        return body;
    }
}

/** Sets one VM's simulated guest behaviour; every field not given goes back to its default. */
export function setBehaviour(sim: Vcsim, vm: string, behaviour: VmBehaviour): Promise<Record<string, unknown>> {
    const given = Object.fromEntries(Object.entries(behaviour).map(([k, v]) => [k, String(v)]));
    return control(sim, "vm", { name: vm, ...defaultBehaviour, ...given });
}

/** The simulator's SOAP call counts (GET /vcsim-ctl/calls), of one scope when given. */
export interface CallCounts {
    readonly calls: number;
    readonly methods: Record<string, number>;
    readonly faults: Record<string, number>;
    readonly logins: number;
    readonly loginFailures: number;
}

export function callCounts(sim: Vcsim, scope?: string): Promise<CallCounts> {
    return control<CallCounts>(sim, "calls", scope ? { scope } : {}, "GET");
}

/**
 * The SDK URL of a counting scope: the simulator serves `/sdk/<scope>` as `/sdk` and counts its
 * calls apart, so a test reads its own counts while other files use the same simulator.
 */
export function scopedUrl(sim: Vcsim, scope: string): string {
    return `${sim.url.replace(/\/+$/, "")}/${encodeURIComponent(scope)}`;
}

/** What the control endpoint reports about one VM. */
export interface VmStatus {
    readonly name: string;
    readonly moid: string;
    readonly powerState: string;
    readonly toolsRunningStatus: string;
    readonly guestState: string;
    readonly shutdownFaultsLeft: number;
}

export async function vmStatus(sim: Vcsim, vm: string): Promise<VmStatus> {
    const all = await control<{ vms: VmStatus[] }>(sim, "vms", { prefix: vm }, "GET");
    const found = all.vms.find((v) => v.name === vm);
    if (!found) throw new Error(`vcsim has no VM ${vm}`);
    return found;
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
