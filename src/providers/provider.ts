import * as pulumi from "@pulumi/pulumi";

/**
 * The serialized half of the VmPower provider. It captures nothing but a `require` by package
 * name, resolved in the provider host from the Pulumi program's node_modules, so the text
 * stored in state is a few hundred bytes and carries no configuration or secrets.
 */
type Runtime = typeof import("./runtime");

function runtime(): Runtime {
    return require("pulumi-graceful-vm/provider-runtime") as Runtime;
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
