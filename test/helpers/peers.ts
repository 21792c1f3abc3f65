import * as fs from "fs";

/**
 * Tests that need a real peer (libvirt, vcsim, a systemd guest, the validators) run when the
 * peer's variables are set (scripts/test.sh starts the peers and exports them). Elsewhere they
 * skip, and the reason is printed once at the end of the run (scripts/jest-peer-skips.js), not
 * once per file; with CI=true a missing peer is a failure, never a skip. The one exception is a
 * peer listed in GRACEFUL_VM_PEERS_ELSEWHERE: .ci/run runs its tests in another lane, so here
 * they skip even on CI.
 */
export function peerEnv(variables: readonly string[]): Record<string, string> | undefined {
    const values: Record<string, string> = {};
    for (const name of variables) {
        const value = process.env[name];
        if (!value) return undefined;
        values[name] = value;
    }
    return values;
}

/** The suffix scripts/jest-peer-skips.js looks for to count a peer's skipped tests. */
export function skippedTitle(title: string, peer: string): string {
    return `${title} (peer ${peer} not running)`;
}

/** Why scripts/test.sh did not start `peer` (its GRACEFUL_VM_PEER_REASONS file), if it said. */
export function peerReason(peer: string): string | undefined {
    const file = process.env.GRACEFUL_VM_PEER_REASONS;
    if (!file) return undefined;
    let text: string;
    try {
        text = fs.readFileSync(file, "utf8");
    } catch {
        return undefined;
    }
    for (const line of text.split("\n")) {
        const tab = line.indexOf("\t");
        if (tab > 0 && line.slice(0, tab) === peer) return line.slice(tab + 1);
    }
    return undefined;
}

function runsElsewhere(peer: string): boolean {
    return (process.env.GRACEFUL_VM_PEERS_ELSEWHERE ?? "").split(/\s+/).includes(peer);
}

/** `describe` that runs `body` with the peer's variables, skips without them, fails on CI. */
export function describeWithPeer(
    title: string,
    peer: string,
    variables: readonly string[],
    body: (env: Record<string, string>) => void,
): void {
    const env = runsElsewhere(peer) ? undefined : peerEnv(variables);
    if (env) {
        describe(title, () => body(env));
        return;
    }
    if (process.env.CI === "true" && !runsElsewhere(peer)) {
        describe(title, () => {
            test(`peer ${peer} is running (${variables.join(", ")})`, () => {
                const unset = variables.filter((v) => !process.env[v]).join(", ");
                const reason = peerReason(peer);
                throw new Error(
                    `peer ${peer} is missing on CI: ${unset} not set${reason ? `: ${reason}` : ""}; see scripts/peers/${peer}.sh`,
                );
            });
        });
        return;
    }
    const skipped = describe.skip;
    skipped(skippedTitle(title, peer), () => body({}));
}
