import { formatDuration, parseDuration } from "../../src/power/duration";
import { InputError } from "../../src/power/errors";

describe("parseDuration", () => {
    test.each([
        ["90s", 90_000],
        ["2m", 120_000],
        ["1m30s", 90_000],
        ["1h", 3_600_000],
        ["1h2m3s", 3_723_000],
        ["500ms", 500],
        ["1.5s", 1_500],
        [" 45s ", 45_000],
        ["120", 120_000],
        [90, 90_000],
        [0.25, 250],
    ])("%p is %p ms", (text, ms) => {
        expect(parseDuration(text, "gracefulShutdownTimeout")).toBe(ms);
    });

    test.each([
        ["abc", /must be a duration such as/],
        ["", /must be a duration such as/],
        ["-5s", /must not be negative/],
        [-5, /must not be negative/],
        ["0s", /greater than zero/],
        [0, /greater than zero/],
        ["5 minutes", /must be a duration such as/],
        ["5m 30s", /must be a duration such as/],
        ["s", /must be a duration such as/],
        ["1d", /must be a duration such as/],
        [Number.NaN, /finite number/],
        [Number.POSITIVE_INFINITY, /finite number/],
        ["25h", /at most 24h/],
        [null, /got null/],
        [true, /got true/],
        [{ seconds: 5 }, /must be a duration/],
    ])("%p is rejected naming the field", (value, message) => {
        let error: unknown;
        try {
            parseDuration(value, "gracefulShutdownTimeout");
        } catch (e) {
            error = e;
        }
        expect(error).toBeInstanceOf(InputError);
        expect((error as InputError).field).toBe("gracefulShutdownTimeout");
        expect((error as InputError).message).toMatch(/^gracefulShutdownTimeout: /);
        expect((error as InputError).message).toMatch(message);
    });

    test("zero is allowed where it makes sense", () => {
        expect(parseDuration("0s", "drainSeconds", { allowZero: true })).toBe(0);
    });

    test.each([
        [90_000, "1m30s"],
        [500, "500ms"],
        [3_600_000, "1h"],
        [1_500, "1.5s"],
    ])("formats %p as %p", (ms, text) => {
        expect(formatDuration(ms)).toBe(text);
    });
});
