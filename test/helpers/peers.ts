/**
 * Tests that need a real peer (libvirt, vcsim, a systemd guest, the validators) run when the
 * peer's variables are set (scripts/test.sh starts the peers and exports them). Elsewhere they
 * skip; with CI=true a missing peer is a failure, never a skip.
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

/** `describe` that runs `body` with the peer's variables, skips without them, fails on CI. */
export function describeWithPeer(
    title: string,
    peer: string,
    variables: readonly string[],
    body: (env: Record<string, string>) => void,
): void {
    const env = peerEnv(variables);
    if (env) {
        describe(title, () => body(env));
        return;
    }
    if (process.env.CI === "true") {
        describe(title, () => {
            test(`peer ${peer} is running (${variables.join(", ")})`, () => {
                throw new Error(
                    `peer ${peer} is missing on CI: ${variables.filter((v) => !process.env[v]).join(", ")} not set; see scripts/peers/${peer}.sh`,
                );
            });
        });
        return;
    }
    const skipped = describe.skip;
    skipped(`${title} (peer ${peer} not running)`, () => body({}));
}
