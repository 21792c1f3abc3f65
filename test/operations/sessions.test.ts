import { DriverModule } from "../../src/drivers/registry";
import { PlatformSession, SessionContext } from "../../src/drivers/platform";
import { SessionPool } from "../../src/operations/sessions";

interface FakeTarget {
    readonly url: string;
}
interface FakeCredentials {
    readonly password: string;
}

/** A platform whose sessions count their opens and closes. */
function fakePlatform(options: { refuse?: boolean; secret?: string } = {}) {
    const opened: string[] = [];
    const closed: string[] = [];
    const module: DriverModule = {
        createDriver: () => {
            throw new Error("not used");
        },
        sessions: {
            key: (target, credentials) => `${(target as FakeTarget).url} ${(credentials as FakeCredentials).password}`,
            open: async (target, credentials, context: SessionContext): Promise<PlatformSession> => {
                const url = (target as FakeTarget).url;
                opened.push(url);
                if (options.secret) context.registerSecret?.(options.secret);
                if (options.refuse) throw new Error(`login to ${url} refused for password ${(credentials as FakeCredentials).password}`);
                return { close: async () => void closed.push(url) };
            },
        },
    };
    return { module, opened, closed };
}

describe("SessionPool", () => {
    it("opens one session per endpoint and identity, however many VMs ask at once", async () => {
        const fake = fakePlatform();
        const pool = new SessionPool({ loadModule: () => fake.module });
        const asks = [
            ...Array.from({ length: 50 }, () => pool.sessionFor("vsphere", { url: "https://a" }, { password: "p1-secret" })),
            ...Array.from({ length: 50 }, () => pool.sessionFor("vsphere", { url: "https://b" }, { password: "p1-secret" })),
            pool.sessionFor("vsphere", { url: "https://a" }, { password: "other-secret" }),
        ];
        const sessions = await Promise.all(asks);
        expect(fake.opened).toEqual(["https://a", "https://b", "https://a"]);
        expect(new Set(sessions).size).toBe(3);
        await pool.close();
        expect(fake.closed.sort()).toEqual(["https://a", "https://a", "https://b"]);
    });

    it("gives undefined where the platform has no sessions", async () => {
        const pool = new SessionPool({ loadModule: () => ({ createDriver: fakePlatform().module.createDriver }) });
        await expect(pool.sessionFor("libvirt", { uri: "qemu:///system" }, {})).resolves.toBeUndefined();
        expect(pool.size).toBe(0);
    });

    it("never retries a refused login within the run, and close() skips it", async () => {
        const fake = fakePlatform({ refuse: true });
        const pool = new SessionPool({ loadModule: () => fake.module });
        for (let i = 0; i < 3; i++)
            await expect(pool.sessionFor("vsphere", { url: "https://a" }, { password: "hunter2-secret" })).rejects.toThrow(/refused/);
        expect(fake.opened).toEqual(["https://a"]);
        const errors: unknown[] = [];
        await pool.close((e) => errors.push(e));
        expect(errors).toEqual([]);
    });

    it("shares run-time secrets with every VM's redactor, before and after it joined", async () => {
        const fake = fakePlatform({ secret: "session-cookie-123456" });
        const pool = new SessionPool({ loadModule: () => fake.module });
        const early: string[] = [];
        const stop = pool.shareSecrets((s) => early.push(s));
        await pool.sessionFor("vsphere", { url: "https://a" }, { password: "p1-secret" });
        const late: string[] = [];
        pool.shareSecrets((s) => late.push(s));
        stop();
        expect(early).toEqual(["session-cookie-123456"]);
        expect(late).toEqual(["session-cookie-123456"]);
    });

    it("refuses new sessions once closed", async () => {
        const pool = new SessionPool({ loadModule: () => fakePlatform().module });
        await pool.close();
        await expect(pool.sessionFor("vsphere", { url: "https://a" }, { password: "x" })).rejects.toThrow(/closed/);
    });
});
