import * as path from "path";
import { DriverContext, DriverFactory } from "../platform";
import { CustomCredentials, CustomTarget } from "./spec";
import { Driver } from "../../power/driver";

type ExternalFactory = (options: Record<string, unknown>, secrets: CustomCredentials, context: DriverContext) => Driver | Promise<Driver>;

export const createDriver: DriverFactory<CustomTarget, CustomCredentials> = (target, credentials, context) => {
    // Resolve from the program's directory (the provider host's cwd), like any other package.
    const resolved = require.resolve(target.module, { paths: [process.cwd(), path.join(process.cwd(), "node_modules")] });
    const loaded = require(resolved) as { createDriver?: ExternalFactory };
    if (typeof loaded.createDriver !== "function") {
        throw new Error(`target.custom.module: ${target.module} does not export a createDriver function`);
    }
    return loaded.createDriver(target.options, credentials, context);
};
