import * as pulumi from "@pulumi/pulumi";

export interface Registration {
    type: string;
    name: string;
    parent: string;
    inputs: Record<string, unknown>;
    additionalSecretOutputs: string[];
    /** URNs the SDK says this resource depends on (dependsOn and property dependencies). */
    dependencies: string[];
}

/**
 * setMocks plus a recorder on the mock monitor: MockResourceArgs carries no parent or
 * options, so the raw RegisterResourceRequests are recorded too.
 */
export async function recordRegistrations(
    preview = false,
): Promise<{ registrations: Registration[]; resources: pulumi.runtime.MockResourceArgs[] }> {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- internal SDK hook, see docs
    await (pulumi.runtime as any).waitForRPCs?.();
    const resources: pulumi.runtime.MockResourceArgs[] = [];
    await pulumi.runtime.setMocks(
        {
            newResource: (args) => {
                resources.push(args);
                return { id: `${args.name}-id`, state: { ...args.inputs, ...fakeProviderOutputs(args), observedPowerState: "running" } };
            },
            call: (args) => args.inputs,
        },
        "proj",
        "dev",
        preview,
    );
    const registrations: Registration[] = [];
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the mock monitor is untyped
    const monitor: any = pulumi.runtime.getMonitor();
    const original = monitor.registerResource.bind(monitor);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    monitor.registerResource = (request: any, callback: any) => {
        registrations.push({
            type: request.getType(),
            name: request.getName(),
            parent: request.getParent(),
            inputs: request.getObject()?.toJavaScript() ?? {},
            additionalSecretOutputs: request.getAdditionalsecretoutputsList(),
            dependencies: request.getDependenciesList(),
        });
        return original(request, callback);
    };
    return { registrations, resources };
}

/** Resolves an Output the way the engine would, including unknowns and secrets. */
export async function valueOf<T>(output: pulumi.Output<T>): Promise<T> {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- internal, stable across 3.x
    return (output as any).promise(true);
}

export async function isSecretOutput(output: pulumi.Output<unknown>): Promise<boolean> {
    return pulumi.isSecret(output);
}

export const secretSig = "4dabf18193072939515e22adb298388d";

/** Outputs that stand-ins for other providers' resources compute (they are not inputs). */
function fakeProviderOutputs(args: pulumi.runtime.MockResourceArgs): Record<string, unknown> {
    if (args.type === "vsphere:index/virtualMachine:VirtualMachine") {
        return { moid: `${args.name}-moid`, uuid: "4211cb7c-1f0e-4e2a-9a5b-0123456789ab" };
    }
    return {};
}
