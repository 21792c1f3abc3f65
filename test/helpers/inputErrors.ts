import { InputError, InputErrors } from "../../src/power/errors";

/** The InputErrors thrown, flattened, so a test can check each field. */
export function errorsOf(fn: () => unknown): InputError[] {
    try {
        fn();
    } catch (e) {
        if (e instanceof InputErrors) return [...e.errors];
        if (e instanceof InputError) return [e];
        throw e;
    }
    throw new Error("expected an InputError");
}
