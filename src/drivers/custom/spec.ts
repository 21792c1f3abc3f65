import { Fields, optionalString, requireObject, requireString } from "../fields";
import { InputError, collectInputErrors, throwIfAny } from "../../power/errors";
import { PlatformSpec } from "../platform";

/**
 * Bring your own driver: a module (package name or absolute path, resolved from the Pulumi
 * program's directory) that exports `createDriver(options, secrets, context)` returning a
 * `Driver`. For platforms this package does not cover yet, and for tests.
 */
export interface CustomTarget {
    /** Module that exports `createDriver`. */
    readonly module: string;
    /** Passed to `createDriver` as is (plaintext in state). */
    readonly options: Fields;
    /** Shown in reports; defaults to the module name. */
    readonly name?: string;
}

/** Secret settings for the custom driver (kept secret in state). */
export type CustomCredentials = Record<string, string>;

export const customSpec: PlatformSpec<CustomTarget, CustomCredentials> = {
    name: "custom",
    secretFields: ["secrets"],
    identityFields: ["module", "name"],
    supportsDeallocate: true,
    parseTarget(raw, field) {
        const obj = requireObject(raw, field);
        let module = "";
        let name: string | undefined;
        let options: Fields = {};
        throwIfAny(
            collectInputErrors([
                () =>
                    (module = requireString(obj, "module", field, {
                        pattern: /^(\/|@?[a-z0-9])[^\s]*$/,
                        description: "a package name or an absolute path",
                    })),
                () => (name = optionalString(obj, "name", field, { maxLength: 200 })),
                () => {
                    if (obj.options !== undefined) options = requireObject(obj.options, `${field}.options`);
                },
            ]),
        );
        return { module, options, ...(name !== undefined ? { name } : {}) };
    },
    parseCredentials(raw, field) {
        if (raw === undefined || raw === null) return {};
        const given = requireObject(raw, field).secrets;
        if (given === undefined || given === null) return {};
        const secrets = requireObject(given, `${field}.secrets`);
        for (const [key, value] of Object.entries(secrets)) {
            if (typeof value !== "string") throw new InputError(`${field}.secrets.${key}`, "must be a string");
        }
        return secrets as CustomCredentials;
    },
    describe: (target) => target.name ?? target.module,
};
