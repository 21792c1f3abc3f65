import { ProgressLog } from "../../src/providers/progressLog";

describe("progress in pulumi up's log", () => {
    beforeEach(() => jest.useFakeTimers());
    afterEach(() => jest.useRealTimers());

    test("a line per phase, then one every 10 s while a phase waits, with elapsed and time left; none after stop", () => {
        let now = 1_000_000;
        const lines: string[] = [];
        const progress = new ProgressLog(
            (m) => lines.push(m),
            10_000,
            () => now,
        );
        progress.update({ phase: "gracefulRequest", elapsedMs: 0 });
        progress.update({ phase: "gracefulWait", elapsedMs: 50, deadline: now + 120_000 });
        expect(lines).toEqual([
            "asking the guest to shut down (0.0s elapsed)",
            "waiting for the guest to shut down (0.0s elapsed, 120.0s left)",
        ]);
        for (let i = 0; i < 3; i++) {
            now += 10_000;
            jest.advanceTimersByTime(10_000);
        }
        expect(lines.slice(2)).toEqual([
            "waiting for the guest to shut down (10.0s elapsed, 110.0s left)",
            "waiting for the guest to shut down (20.0s elapsed, 100.0s left)",
            "waiting for the guest to shut down (30.0s elapsed, 90.0s left)",
        ]);
        progress.stop();
        jest.advanceTimersByTime(60_000);
        expect(lines).toHaveLength(5);
    });
});
