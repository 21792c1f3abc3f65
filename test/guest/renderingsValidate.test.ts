import * as fs from "fs";
import * as path from "path";
import { renderGuestUserData } from "../../src/guest/render";
import { describeWithPeer } from "../helpers/peers";
import { runValidator, tempDir } from "./helpers";

/**
 * The renderings the misbehaviour work added (per-boot install script, arm script, a runner that
 * asks for the shutdown kind, a unit without default dependencies, drop-ins that state their
 * worst case) pass cloud-init's schema, systemd-analyze verify and shellcheck, in every shape:
 * hooks with `on`, services only, the guest agent only, and merged with a failing user runcmd.
 */
const options = { platform: "proxmox" as const, gracefulTimeoutMs: 300_000 };

const renderings: Record<string, string> = {
    on: renderGuestUserData(
        [
            { name: "drain", drain: { seconds: "10s", createFile: "/run/d", request: { url: "http://127.0.0.1/x" } }, on: ["poweroff"] },
            { name: "warm", exec: { command: ["true"] }, timeout: "20s", on: ["reboot"] },
            { name: "flush", exec: { script: "sync" }, timeout: "5s" },
        ],
        { services: ["app", { name: "worker", killMode: "mixed" }] },
        options,
    ).userData,
    servicesOnly: renderGuestUserData(undefined, { services: [{ name: "db", timeoutStopSec: "1500ms" }] }, options).userData,
    agentOnly: renderGuestUserData(undefined, { installGuestAgent: true }, options).userData,
    failingRuncmd: renderGuestUserData(
        [{ name: "mark", exec: { command: ["logger", "mark"] } }],
        { userData: '#cloud-config\nruncmd:\n  - set -e\n  - "false"\n  - exit 3\n', installGuestAgent: false },
        options,
    ).userData,
};

describe("renderings without hooks", () => {
    test("the agent-only rendering is just the boot script starting the agent, nothing in runcmd", () => {
        expect(renderings.agentOnly).toContain("systemctl start --no-block qemu-guest-agent.service || true");
        expect(renderings.agentOnly).not.toMatch(/^runcmd:/m);
    });
});

describeWithPeer("the new renderings pass the validators", "validators", ["GUEST_VALIDATOR"], (env) => {
    test.each(Object.keys(renderings))(
        "%s",
        (name) => {
            const file = path.join(tempDir("renderings"), `${name}.yaml`);
            fs.writeFileSync(file, renderings[name]);
            const result = runValidator(env.GUEST_VALIDATOR, [file]);
            expect(result.output).not.toMatch(/^FAIL/m);
            expect(result.ok).toBe(true);
            expect(result.passed).toBeGreaterThanOrEqual(2);
        },
        60_000,
    );
});
