import { ChildProcess, execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { VsphereDriver, openVsphereDriver } from "../../src/drivers/vsphere/driver";
import { vsphereSpec } from "../../src/drivers/vsphere/spec";
import { systemClock } from "../../src/power/clock";
import { Driver, GuestShutdownRequest, GuestToolsStatus, ObservedState } from "../../src/power/driver";
import { ObservedPowerState } from "../../src/power/states";
import { Vcsim, VmBehaviour, control, setBehaviour, vcsimVariables, vmStatus } from "../vsphere/vcsim";
import { FaultProxy } from "./faultProxy";
import { GuestKind, Platform, PlatformEnv, Timing, timing } from "./platforms";

/**
 * vSphere in the driver contract suite: each case gets a vCenter simulator of its own (our vcsim
 * peer, test/peers/vsphere, started from the binary scripts/peers/vsphere.sh built), so the
 * peer's global switches (SOAP freeze, HTTP 503 bursts, terminated sessions) and its event
 * history belong to that case alone, and reaches it through our fault proxy.
 */
const password = "vcsim-Contract-7d3e";

let binary: string | undefined;

/** The peer's binary: build.sh prints the cached one (scripts/peers/vsphere.sh built it). */
function peerBinary(): string {
    binary ??= execFileSync("bash", [path.join(__dirname, "../peers/vsphere/build.sh")], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"],
    }).trim();
    return binary;
}

interface Simulator extends Vcsim {
    readonly port: number;
    stop(): Promise<void>;
}

async function startSimulator(esx: boolean): Promise<Simulator> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "graceful-vm-contract-vcsim-"));
    const envFile = path.join(dir, "env");
    const certFile = path.join(dir, "cert.pem");
    const log = fs.openSync(path.join(dir, "log"), "w");
    const child: ChildProcess = spawn(
        peerBinary(),
        [
            "-l",
            "127.0.0.1:0",
            "-cert-file",
            certFile,
            "-env-file",
            envFile,
            "-password",
            password,
            "-shutdown-delay",
            "1s",
            ...(esx ? ["-esx"] : []),
        ],
        { stdio: ["ignore", log, log] },
    );
    fs.closeSync(log);
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    const started = Date.now();
    while (!fs.existsSync(envFile)) {
        if (child.exitCode !== null || Date.now() - started > 15_000) {
            child.kill("SIGKILL");
            throw new Error(`the vcsim peer did not start: ${fs.readFileSync(path.join(dir, "log"), "utf8").slice(-500)}`);
        }
        await new Promise((r) => setTimeout(r, 20));
    }
    const env: Record<string, string> = {};
    for (const line of fs.readFileSync(envFile, "utf8").split("\n")) {
        const match = /^export (\w+)=(.*)$/.exec(line);
        if (match) env[match[1]] = match[2];
    }
    const url = env.VCSIM_URL;
    return {
        url,
        username: env.VCSIM_USERNAME,
        password,
        caCert: fs.readFileSync(certFile, "utf8"),
        ctlUrl: env.VCSIM_CTL_URL,
        port: Number(new URL(url).port),
        async stop() {
            // SIGTERM: the simulator removes its temporary datastores.
            child.kill("SIGTERM");
            const killer = setTimeout(() => child.kill("SIGKILL"), 3_000);
            await exited;
            clearTimeout(killer);
            fs.rmSync(dir, { recursive: true, force: true });
        },
    };
}

/**
 * The sequence's Driver over a vSphere driver that logs in at its first call, so that faults
 * from the start of a case hit the login and the VM look-up too (the CLI's createDriver), and a
 * failed login is tried again at the next call.
 */
class LazyVsphereDriver implements Driver {
    readonly platform = "vsphere";
    private opening: Promise<VsphereDriver> | undefined;
    private closed = false;

    constructor(
        readonly vmDescription: string,
        private readonly open: () => Promise<VsphereDriver>,
    ) {}

    readState(): Promise<ObservedState> {
        return this.driver().then((d) => d.readState());
    }
    checkGuestTools(): Promise<GuestToolsStatus> {
        return this.driver().then((d) => d.checkGuestTools());
    }
    requestGuestShutdown(deadline: number): Promise<GuestShutdownRequest> {
        return this.driver().then((d) => d.requestGuestShutdown(deadline));
    }
    powerOffHard(): Promise<void> {
        return this.driver().then((d) => d.powerOffHard());
    }
    powerOn(): Promise<void> {
        return this.driver().then((d) => d.powerOn());
    }
    waitForState(targets: readonly ObservedPowerState[], deadline: number): Promise<ObservedState> {
        return this.driver().then((d) => d.waitForState(targets, deadline));
    }

    async close(): Promise<void> {
        this.closed = true;
        const opening = this.opening;
        if (opening) await opening.then((d) => d.close()).catch(() => undefined);
    }

    private driver(): Promise<VsphereDriver> {
        if (this.closed) return Promise.reject(new Error("the driver is closed"));
        if (!this.opening) {
            const opening = this.open();
            this.opening = opening;
            // A failed login is tried afresh by the next call.
            opening.catch(() => {
                if (this.opening === opening) this.opening = undefined;
            });
        }
        return this.opening;
    }
}

function behaviourOf(guest: GuestKind): VmBehaviour {
    switch (guest) {
        case "hung":
            return { shutdown: "hang" };
        case "slow":
            return { delay: `${timing.slowMs}ms` };
        default:
            return { delay: `${timing.quickMs}ms` };
    }
}

/**
 * The standalone ESXi host runs the cases where it differs from vCenter (no QueryEvents: who
 * powered the VM off comes from an event collector; `ha-*` managers), not the whole table again.
 */
const esxCases = [
    "quick guest: graceful",
    "hung guest: forced at the deadline, not before",
    "already off: nothing to do",
    "connections reset at the first read: retried",
    "stall mid-wait longer than the per-call timeout",
    "5xx burst with Retry-After mid-wait",
    "credentials expire mid-wait",
    "hard power-off by someone else mid-wait (hung guest)",
    "hard power-off by someone else mid-wait (slow guest)",
    "VM deleted mid-wait: fails clearly, no hard power-off",
    "run interrupted, then run again: ends off",
    "graceful request answers SystemError once: asked again, graceful",
    "guest tools not running: forced at once (graceful impossible)",
    "the guest shuts itself down mid-wait (it ignored the request): graceful, not someone else's",
];

/**
 * Opening a vSphere driver is three round trips (RetrieveServiceContent, Login, the VM's
 * lookup) inside one call bound, where the HTTP platforms make one: on a loaded 2-core machine
 * the contract's 1.5 s left a login after an outage too little room (one failure in four full
 * runs). Every case's times and the run bound follow from this timing.
 */
const vsphereTiming: Timing = { ...timing, callTimeoutMs: 2_500 };

export const vsphere: Platform = vspherePlatform("vsphere", false);
export const vsphereEsx: Platform = { ...vspherePlatform("vsphere-esxi", true), onlyCases: esxCases };

function vspherePlatform(name: string, esx: boolean): Platform {
    const vmName = esx ? "ha-host_VM0" : "DC0_H0_VM0";
    return {
        name,
        peer: { name: "vsphere", variables: vcsimVariables },
        async start(guest) {
            const sim = await startSimulator(esx);
            const timers: NodeJS.Timeout[] = [];
            try {
                await setBehaviour(sim, vmName, behaviourOf(guest));
                if (guest === "alreadyOff") await control(sim, "power", { name: vmName, state: "off" });
                const proxy = await FaultProxy.start(sim.port);
                const drivers: Driver[] = [];
                const power = (state: "on" | "off", by = "someone") =>
                    control(sim, "power", { name: vmName, state, by }).then(
                        () => undefined,
                        // 409: already in that state (the guest got there first).
                        (e: unknown) => {
                            if (!/ 409:/.test(String(e))) throw e;
                        },
                    );
                const env: PlatformEnv = {
                    proxy,
                    timing: vsphereTiming,
                    credentialsRenew: false,
                    driver: () => {
                        const target = vsphereSpec.parseTarget(
                            { url: `https://127.0.0.1:${proxy.port}/sdk`, username: sim.username, vm: vmName, caCert: sim.caCert },
                            "target.vsphere",
                        );
                        const driver = new LazyVsphereDriver(vsphereSpec.describe(target), () =>
                            openVsphereDriver(
                                target,
                                { password },
                                {
                                    clock: systemClock,
                                    log: (m) => process.env.CONTRACT_DEBUG && process.stderr.write(`vsphere: ${m}\n`),
                                    // As withDriver passes the run's --call-timeout: it bounds the login.
                                    callTimeoutMs: vsphereTiming.callTimeoutMs,
                                },
                                { requestTimeoutMs: vsphereTiming.callTimeoutMs - 300, pollIntervalMs: 200 },
                            ),
                        );
                        drivers.push(driver);
                        return driver;
                    },
                    // Another client's PowerOffVM_Task (an administrator, a script, HA).
                    externalHardOff: () => power("off"),
                    externalPowerOn: () => power("on"),
                    deleteVm: () => control(sim, "destroy", { name: vmName }).then(() => undefined),
                    // The reverse proxy in front of vpxd answers 503 while it restarts: every method.
                    burst5xx: (count, retryAfter) =>
                        control(sim, "http-fault", { count, status: 503, ...(retryAfter ? { retryAfter: 1 } : {}) }).then(() => undefined),
                    failNextRequest5xx: () =>
                        control(sim, "http-fault", { count: 1, status: 503, method: "ShutdownGuest" }).then(() => undefined),
                    // An administrator's TerminateSession, or vpxd restarted: our session is gone.
                    expireCredentials: () => control(sim, "sessions/terminate").then(() => undefined),
                    // VMware Tools restarting their scripts, again and again: guestToolsExecutingScripts comes and goes.
                    flapAgent: () => {
                        const flap = setInterval(
                            () => void control(sim, "vm", { name: vmName, toolsStarting: "150ms" }).catch(() => undefined),
                            300,
                        );
                        timers.push(flap);
                    },
                    failGracefulRequest: (fault, count) =>
                        control(sim, "vm", { name: vmName, shutdownFault: fault, shutdownFaultCount: count }).then(() => undefined),
                    toolsNotRunning: () => control(sim, "vm", { name: vmName, tools: "notRunning" }).then(() => undefined),
                    // The server holds every SOAP request, TLS and HTTP done (vpxd hung, not the network).
                    freezeApi: (ms) => control(sim, "freeze", { for: `${ms}ms` }).then(() => undefined),
                    guestShutsDownItself: () => power("off", "guest"),
                    async peerState() {
                        return (await vmStatus(sim, vmName)).powerState === "poweredOn" ? "running" : "stopped";
                    },
                    async close() {
                        timers.forEach(clearInterval);
                        for (const d of drivers) await d.close().catch(() => undefined);
                        await proxy.stop();
                        await sim.stop();
                    },
                };
                return env;
            } catch (e) {
                timers.forEach(clearInterval);
                await sim.stop();
                throw e;
            }
        },
    };
}
