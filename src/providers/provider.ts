import * as pulumi from "@pulumi/pulumi";

/**
 * The serialized half of the VmPower provider. It captures nothing but a `require` by package
 * name, resolved in the provider host from the Pulumi program's node_modules, so the text
 * stored in state is a few hundred bytes and carries no configuration or secrets.
 */
type Runtime = typeof import("./runtime");

function runtime(): Runtime {
    try {
        return require("pulumi-graceful-vm/provider-runtime") as Runtime;
    } catch (e) {
        const code = (e as { code?: unknown }).code;
        if (code !== "MODULE_NOT_FOUND" && code !== "ERR_PACKAGE_PATH_NOT_EXPORTED") throw e;
        // The dynamic-provider host resolves this from its working directory (the project's
        // `main` folder), not from the program's own node_modules: say where it looked.
        throw new Error(
            `graceful-vm: the Pulumi provider host cannot load "pulumi-graceful-vm/provider-runtime" from ${process.cwd()}. ` +
                "Install pulumi-graceful-vm as a direct dependency of the Pulumi project (npm install pulumi-graceful-vm); " +
                "with pnpm, add it to the project's own package.json or set public-hoist-pattern[]=pulumi-graceful-vm in .npmrc; " +
                "Yarn Plug'n'Play is not supported (set nodeLinker: node-modules in .yarnrc.yml). See docs/pulumi-up.md.",
            { cause: e },
        );
    }
}

export const vmPowerProvider: pulumi.dynamic.ResourceProvider = {
    async check(olds, news) {
        return runtime().check(olds, news);
    },
    async diff(id, olds, news) {
        return runtime().diff(id, olds, news);
    },
    async create(inputs) {
        return runtime().create(inputs);
    },
    async read(id, props) {
        return runtime().read(id, props);
    },
    async update(id, olds, news) {
        return runtime().update(id, olds, news);
    },
    async delete(id, props) {
        return runtime().remove(id, props);
    },
};
