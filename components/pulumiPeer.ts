import { requireOptionalPeer } from "./optionalPeer";

/**
 * `@pulumi/pulumi` is an optional peer, so the CLI installs alone (`npm i -g pulumi-graceful-vm`)
 * without Pulumi's ~90 MB. The components need it: this import comes first in the package root,
 * so a program without it gets the install line instead of a bare "Cannot find module".
 */
requireOptionalPeer("@pulumi/pulumi", "@pulumi/pulumi", "the Pulumi components (GracefulVm, VmPower)");
