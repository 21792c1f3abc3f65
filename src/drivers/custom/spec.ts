import { Fields, checkSecret, optionalString, rejectUnknownKeys, requireObject, requireString } from "../fields";
import { collectInputErrors, throwIfAny } from "../../power/errors";
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
    jsonSecretFields: ["secrets"],
    identityFields: ["module", "name"],
    userDataLimit: { bytes: 1_048_576, source: "our 1 MiB cap (a custom platform's own limit is unknown here)" },
    supportsDeallocate: true,
    parseTarget(raw, field) {
        const obj = requireObject(raw, field);
        let module = "";
        let name: string | undefined;
        let options: Fields = {};
        throwIfAny(
            collectInputErrors([
                () => rejectUnknownKeys(obj, field, ["module", "options", "name"]),
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
        const obj = requireObject(raw, field);
        rejectUnknownKeys(obj, field, customSpec.secretFields);
        if (obj.secrets === undefined || obj.secrets === null) return {};
        const secrets = requireObject(obj.secrets, `${field}.secrets`);
        throwIfAny(
            collectInputErrors(
                Object.entries(secrets).map(
                    ([key, value]) =>
                        () =>
                            checkSecret(value, `${field}.secrets.${key}`),
                ),
            ),
        );
        return secrets as CustomCredentials;
    },
    describe: (target) => target.name ?? target.module,
};
