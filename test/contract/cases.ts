import { TransitionMethod } from "../../src/power/report";
import { GuestKind, PlatformEnv, Timing, timing } from "./platforms";

/** What a case must end in. `fails`: a PowerTransitionError (or a clear driver error), no hang. */
export type Expected = TransitionMethod | "fails" | "interruptedThenDone";

/** Milliseconds, or a time that depends on the platform's timing (the deadline, one call's bound). */
export type Ms = number | ((t: Timing) => number);

/** The platform's switch a case or fault uses (an optional member of PlatformEnv). */
export type Switch = keyof PlatformEnv;

/** A fault, `at` ms after the run starts. */
export interface Fault {
    readonly at: Ms;
    readonly apply: (env: PlatformEnv, t: Timing) => void | Promise<void>;
    /** The optional switch it uses: the case applies only where the platform has it. */
    readonly needs?: Switch;
}

export interface ContractCase {
    readonly name: string;
    readonly guest: GuestKind;
    readonly faults: readonly Fault[];
    /** Allowed outcomes (the first is the usual one). */
    readonly expect: readonly Expected[];
    /** Only on these platforms (a switch the others do not have). */
    readonly only?: readonly string[];
    /**
     * Someone else acts on the VM after the off state our run may end on (powers it on again):
     * the platform's state after the run is theirs, so only the report is checked.
     */
    readonly othersActAfter?: boolean;
    /** The platform needs these switches (beyond those its faults name). */
    readonly needs?: Switch | readonly Switch[];
}

/** `ms` on the platform's timing. */
export const msOn = (ms: Ms, t: Timing): number => (typeof ms === "function" ? ms(t) : ms);

const { quickMs, slowMs } = timing;
/** A fault's action that uses an optional switch. */
interface Tagged {
    readonly apply: Fault["apply"];
    readonly needs: Switch;
}
type Action = Fault["apply"] | Tagged;
const at = (ms: Ms, action: Action): Fault => ({ at: ms, ...(typeof action === "function" ? { apply: action } : action) });
type ProxyMode = Parameters<NonNullable<PlatformEnv["proxy"]>["set"]>[0];
const proxyFor = (mode: ProxyMode, ms: Ms): Tagged => ({ needs: "proxy", apply: (env, t) => env.proxy?.for(mode, msOn(ms, t)) });
const proxySet = (mode: ProxyMode): Tagged => ({ needs: "proxy", apply: (env) => env.proxy?.set(mode) });
const burst5xx = (count: number, retryAfter: boolean): Tagged => ({ needs: "burst5xx", apply: (env) => env.burst5xx?.(count, retryAfter) });
const restartDaemon = (downMs: Ms): Tagged => ({ needs: "restartDaemon", apply: (env, t) => env.restartDaemon?.(msOn(downMs, t)) });
const freezeDaemon = (ms?: Ms): Tagged => ({
    needs: "freezeDaemon",
    apply: (env, t) => env.freezeDaemon?.(ms === undefined ? undefined : msOn(ms, t)),
});
/** Times against the platform's own deadline and call bound. */
const beforeDeadline = (ms: number) => (t: Timing) => t.gracefulTimeoutMs - ms;
const pastCallBound = (ms: number) => (t: Timing) => t.callTimeoutMs + ms;

/**
 * The one table: every platform family runs every case it has the switches for. Times are
 * chosen against `timing` (graceful 2.5 s, verify 4 s, one call 1.5 s), or the platform's own.
 */
export const contractCases: readonly ContractCase[] = [
    // The plain paths.
    { name: "quick guest: graceful", guest: "quick", faults: [], expect: ["graceful"] },
    { name: "slow guest within the deadline: graceful", guest: "slow", faults: [], expect: ["graceful"] },
    { name: "hung guest: forced at the deadline, not before", guest: "hung", faults: [], expect: ["forced"] },
    { name: "already off: nothing to do", guest: "alreadyOff", faults: [], expect: ["none"] },
    {
        name: "first press lost (guest booting): asked again, graceful",
        guest: "lostFirstPress",
        faults: [],
        expect: ["graceful"],
        only: ["proxmox", "libvirt"],
    },
    // Connection faults from our proxy.
    { name: "connections reset at the first read: retried", guest: "quick", faults: [at(0, proxyFor("reset", 300))], expect: ["graceful"] },
    {
        name: "endpoint refusing at the start (restart): retried",
        guest: "quick",
        faults: [at(0, proxyFor("refuse", 800))],
        expect: ["graceful"],
    },
    {
        name: "TLS handshake that never finishes at the start: bounded, retried",
        guest: "quick",
        faults: [at(0, proxyFor("halfOpen", pastCallBound(300)))],
        expect: ["graceful"],
    },
    {
        name: "reset mid-wait: waited out",
        guest: "slow",
        faults: [at(600, proxySet("reset")), at(700, proxySet("pass"))],
        expect: ["graceful"],
    },
    { name: "endpoint restarted mid-wait (1 s down)", guest: "slow", faults: [at(500, proxyFor("refuse", 1_000))], expect: ["graceful"] },
    {
        name: "stall mid-wait longer than the per-call timeout",
        guest: "slow",
        faults: [at(400, proxyFor("stall", pastCallBound(200)))],
        expect: ["graceful"],
    },
    { name: "half-open connections mid-wait", guest: "slow", faults: [at(400, proxyFor("halfOpen", 1_200))], expect: ["graceful"] },
    {
        name: "hung guest, reset as the hard power-off starts",
        guest: "hung",
        faults: [at(beforeDeadline(100), proxyFor("reset", 400))],
        expect: ["forced"],
    },
    {
        name: "hung guest, endpoint restarting at the deadline",
        guest: "hung",
        faults: [at(beforeDeadline(200), proxyFor("refuse", 1_200))],
        expect: ["forced"],
    },
    {
        name: "hung guest, stall across the deadline",
        guest: "hung",
        faults: [at(beforeDeadline(500), proxyFor("stall", 1_500))],
        expect: ["forced"],
    },
    {
        name: "frozen endpoint mid-wait (never back): fails within the bound",
        guest: "hung",
        faults: [at(500, proxySet("stall"))],
        expect: ["fails"],
    },
    {
        name: "frozen endpoint, handshakes never finish (never back): fails within the bound",
        guest: "hung",
        faults: [at(500, proxySet("halfOpen")), at(510, proxySet("stall"))],
        expect: ["fails"],
    },
    { name: "endpoint gone for good mid-wait: fails clearly", guest: "hung", faults: [at(500, proxySet("refuse"))], expect: ["fails"] },
    // Switches in the peers and contract servers.
    { name: "5xx burst with Retry-After mid-wait", guest: "slow", faults: [at(300, burst5xx(3, true))], expect: ["graceful"] },
    { name: "5xx burst without Retry-After mid-wait", guest: "slow", faults: [at(300, burst5xx(3, false))], expect: ["graceful"] },
    { name: "5xx burst on the first read", guest: "quick", faults: [at(0, burst5xx(2, false))], expect: ["graceful"] },
    {
        name: "a 5xx on the graceful request: retried, not forced",
        guest: "quick",
        faults: [at(0, (e) => e.failNextRequest5xx?.())],
        expect: ["graceful"],
        needs: "failNextRequest5xx",
    },
    {
        name: "hung guest, 5xx burst at the deadline",
        guest: "hung",
        faults: [at(beforeDeadline(300), burst5xx(2, false))],
        expect: ["forced"],
    },
    {
        name: "credentials expire mid-wait",
        guest: "slow",
        faults: [at(400, (e) => e.expireCredentials?.())],
        needs: "expireCredentials",
        // Renewable tokens recover; a revoked API token fails clearly without forcing.
        expect: ["graceful", "fails"],
    },
    {
        name: "hard power-off by someone else mid-wait (hung guest)",
        guest: "hung",
        faults: [at(700, (e) => e.externalHardOff())],
        expect: ["externalOff"],
    },
    {
        name: "hard power-off by someone else mid-wait (slow guest)",
        guest: "slow",
        faults: [at(400, (e) => e.externalHardOff())],
        expect: ["externalOff"],
    },
    {
        name: "powered off and on again by someone else mid-wait: still forced at the deadline",
        guest: "hung",
        faults: [at(500, (e) => e.externalHardOff()), at(520, (e) => e.externalPowerOn())],
        // A platform whose wait sees the brief off (vSphere's property updates, libvirt's events)
        // ends in verify's fail-fast: the VM reached off, then someone powered it on again.
        expect: ["forced", "externalOff", "fails"],
        othersActAfter: true,
    },
    {
        name: "VM deleted mid-wait: fails clearly, no hard power-off",
        guest: "hung",
        faults: [at(600, (e) => e.deleteVm())],
        expect: ["fails"],
    },
    {
        name: "graceful request accepted, then fails: falls back at once",
        guest: "hung",
        faults: [at(0, (e) => e.failGracefulLater?.())],
        needs: "failGracefulLater",
        expect: ["forced"],
    },
    { name: "run interrupted, then run again: ends off", guest: "slow", faults: [], expect: ["interruptedThenDone"] },
    { name: "run interrupted with a hung guest, then run again: forced", guest: "hung", faults: [], expect: ["interruptedThenDone"] },
    {
        name: "VM migrated to another node mid-wait: followed",
        guest: "slow",
        faults: [at(300, (e) => e.migrate?.())],
        expect: ["graceful"],
        needs: "migrate",
    },
    {
        name: "guest agent flapping: graceful (agent or ACPI)",
        guest: "quick",
        faults: [at(0, (e) => e.flapAgent?.())],
        expect: ["graceful"],
        needs: "flapAgent",
    },
    {
        name: "reset mid-wait and a 5xx burst after it",
        guest: "slow",
        faults: [at(300, proxyFor("reset", 200)), at(600, burst5xx(2, true))],
        expect: ["graceful"],
    },
    {
        name: "two short outages mid-wait",
        guest: "slow",
        faults: [at(200, proxyFor("refuse", 300)), at(800, proxyFor("refuse", 300))],
        expect: ["graceful"],
    },
    { name: "quick guest, stall right after the request", guest: "quick", faults: [at(150, proxyFor("stall", 900))], expect: ["graceful"] },
    {
        name: "hung guest, half-open at the hard power-off",
        guest: "hung",
        faults: [at(beforeDeadline(100), proxyFor("halfOpen", 1_000))],
        expect: ["forced"],
    },
    {
        name: "slow guest, endpoint down until just before the deadline",
        guest: "slow",
        faults: [at(300, proxyFor("refuse", beforeDeadline(700)))],
        expect: ["graceful"],
    },
    // Switches only some peers have (vSphere's vcsim peer: vim25 faults, tools, a hung service).
    {
        name: "graceful request answers SystemError once: asked again, graceful",
        guest: "quick",
        faults: [at(0, (e) => e.failGracefulRequest?.("SystemError", 1))],
        expect: ["graceful"],
        needs: "failGracefulRequest",
    },
    {
        name: "graceful request answers TaskInProgress twice: retried, graceful",
        guest: "quick",
        faults: [at(0, (e) => e.failGracefulRequest?.("TaskInProgress", 2))],
        expect: ["graceful"],
        needs: "failGracefulRequest",
    },
    {
        name: "graceful request failing on every try: forced only at the deadline",
        guest: "quick",
        faults: [at(0, (e) => e.failGracefulRequest?.("SystemError", 1_000))],
        expect: ["forced"],
        needs: "failGracefulRequest",
    },
    {
        name: "guest tools not running: forced at once (graceful impossible)",
        guest: "quick",
        faults: [at(0, (e) => e.toolsNotRunning?.())],
        expect: ["forced"],
        needs: "toolsNotRunning",
    },
    {
        name: "API hung for 1 s mid-wait (calls held, connections fine)",
        guest: "slow",
        faults: [at(400, (e) => e.freezeApi?.(1_000))],
        expect: ["graceful"],
        needs: "freezeApi",
    },
    {
        name: "API hung across the deadline (hung guest)",
        guest: "hung",
        faults: [at(beforeDeadline(400), (e) => e.freezeApi?.(1_200))],
        expect: ["forced"],
        needs: "freezeApi",
    },
    {
        name: "API hung for good mid-wait: fails within the bound",
        guest: "hung",
        faults: [at(500, (e) => e.freezeApi?.(120_000))],
        expect: ["fails"],
        needs: "freezeApi",
    },
    {
        name: "the guest shuts itself down mid-wait (it ignored the request): graceful, not someone else's",
        guest: "hung",
        faults: [at(700, (e) => e.guestShutsDownItself?.())],
        expect: ["graceful"],
        needs: "guestShutsDownItself",
    },
    {
        name: "credentials expire before the graceful request",
        guest: "quick",
        faults: [at(0, (e) => e.expireCredentials?.())],
        expect: ["graceful", "fails"],
        needs: "expireCredentials",
    },
    {
        name: "5xx burst with Retry-After across the deadline (hung guest)",
        guest: "hung",
        faults: [at(beforeDeadline(300), burst5xx(2, true))],
        expect: ["forced"],
    },
    // The platform's own daemon (libvirtd): restarted, frozen with SIGSTOP, gone.
    { name: "daemon restarting as the run starts: retried", guest: "quick", faults: [at(0, restartDaemon(0))], expect: ["graceful"] },
    {
        name: "daemon restarted mid-wait: waited out",
        guest: "slow",
        faults: [at(500, restartDaemon(300))],
        // A guest that powers off while libvirtd is stopping is recorded "shut off (crashed)",
        // which cannot be told from a crash: not reported clean (exit 3), never "graceful" wrongly.
        expect: ["graceful", "externalOff"],
    },
    {
        name: "hung guest, daemon restarting at the deadline: forced",
        guest: "hung",
        faults: [at(beforeDeadline(400), restartDaemon(300))],
        expect: ["forced"],
    },
    {
        name: "daemon frozen at the first read, longer than the per-call timeout: retried",
        guest: "quick",
        faults: [at(0, freezeDaemon(pastCallBound(300)))],
        expect: ["graceful"],
    },
    {
        name: "daemon frozen mid-wait, longer than the per-call timeout: waited out",
        guest: "slow",
        faults: [at(500, freezeDaemon(pastCallBound(500)))],
        expect: ["graceful"],
    },
    {
        name: "hung guest, daemon frozen across the deadline: forced",
        guest: "hung",
        faults: [at(beforeDeadline(500), freezeDaemon(pastCallBound(0)))],
        expect: ["forced"],
    },
    {
        name: "daemon frozen mid-wait (never thawed): fails within the bound",
        guest: "hung",
        faults: [at(500, freezeDaemon())],
        expect: ["fails"],
    },
    { name: "daemon gone for good mid-wait: fails clearly", guest: "hung", faults: [at(500, restartDaemon(Infinity))], expect: ["fails"] },
];

export { quickMs, slowMs };
