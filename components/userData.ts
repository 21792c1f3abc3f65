import * as pulumi from "@pulumi/pulumi";
import { PlatformName } from "../src/drivers/platform";
import { renderGuestUserData } from "../src/guest/render";
import { Duration, parseDuration } from "../src/power/duration";
import { inputDefaults } from "../src/operations/inputs";
import { GracefulVmArgs } from "./gracefulVmArgs";
import { isKnown } from "./known";

/**
 * The cloud-init user-data installing the component's `preStop` hooks and `lifecycle` settings,
 * or undefined when it has neither. When every value is already known (the usual case: hooks
 * are written in the program), it is validated here and a bad hook or a budget that cannot fit
 * in `gracefulShutdownTimeout` throws at once, failing `pulumi preview` at the component's
 * line. Values still unknown are validated when they resolve. Secret inputs (a header holding
 * a token) make the output secret.
 */
export function guestUserData(args: GracefulVmArgs, platform: string): pulumi.Output<string> | undefined {
    if (args.preStop === undefined && args.lifecycle === undefined) return undefined;
    const render = (preStop: unknown, lifecycle: unknown, timeout: unknown): string =>
        renderGuestUserData(preStop, lifecycle, {
            platform: platform as PlatformName,
            gracefulTimeoutMs: parseDuration(timeout ?? inputDefaults.gracefulShutdownTimeout, "gracefulShutdownTimeout"),
        }).userData;
    if (isKnown(args.preStop) && isKnown(args.lifecycle) && isKnown(args.gracefulShutdownTimeout)) {
        return pulumi.output(render(args.preStop, args.lifecycle, args.gracefulShutdownTimeout));
    }
    return pulumi
        .all([
            pulumi.output(args.preStop),
            pulumi.output(args.lifecycle),
            pulumi.output(args.gracefulShutdownTimeout as pulumi.Input<Duration> | undefined),
        ])
        .apply(([preStop, lifecycle, timeout]) => render(preStop, lifecycle, timeout));
}
