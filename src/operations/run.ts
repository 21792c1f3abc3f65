import { loadDriverFactory, platformSpec } from "../drivers/registry";
import { Clock, systemClock } from "../power/clock";
import { Driver } from "../power/driver";
import { parseDuration } from "../power/duration";
import { PowerTransitionError } from "../power/errors";
import { TransitionReport } from "../power/report";
import { DesiredPowerState } from "../power/states";
import { TransitionRequest, runTransition } from "../power/transition";
import { VmPowerInputs } from "./inputs";
import { Redactor, secretValues } from "../drivers/shared/redact";

/**
 * Opening a driver and running the sequence, shared by the Pulumi provider and the CLI so both
 * behave the same. Every error leaving here is scrubbed of credentials.
 */
export interface OperationContext {
    readonly clock?: Clock;
    readonly log?: (message: string) => void;
    readonly onProgress?: TransitionRequest["onProgress"];
}

export async function withDriver<T>(
    inputs: VmPowerInputs,
    context: OperationContext,
    use: (driver: Driver, redactor: Redactor) => Promise<T>,
): Promise<T> {
    // Tokens and session cookies the driver obtains are added as it gets them.
    const redactor = new Redactor(secretValues(inputs.credentials));
    const log = (message: string): void => context.log?.(redactor.scrub(message));
    try {
        const spec = platformSpec(inputs.platform, "target");
        const target = spec.parseTarget(inputs.target, `target.${inputs.platform}`);
        const credentials = spec.parseCredentials(inputs.credentials, `target.${inputs.platform}`);
        const createDriver = loadDriverFactory(spec.name);
        const driver = await createDriver(target, credentials, {
            clock: context.clock ?? systemClock,
            log,
            registerSecret: (value) => redactor.add(value),
        });
        try {
            return redactor.scrubValue(await use(driver, redactor));
        } finally {
            await driver.close().catch((e: unknown) => log(`closing the ${inputs.platform} connection failed: ${String(e)}`));
        }
    } catch (e) {
        throw scrub(e, redactor);
    }
}

/** Runs the sequence towards `desired` with the inputs' timeouts and policy. */
export function transition(inputs: VmPowerInputs, desired: DesiredPowerState, context: OperationContext = {}): Promise<TransitionReport> {
    return withDriver(inputs, context, async (driver, redactor) => {
        const report = await runTransition(driver, context.clock ?? systemClock, {
            desired,
            gracefulTimeoutMs: parseDuration(inputs.gracefulShutdownTimeout, "gracefulShutdownTimeout"),
            force: inputs.forceAfterTimeout,
            stopBeforeDeallocate: inputs.stopBeforeDeallocate,
            waitForGuestAgent: inputs.waitForGuestAgent,
            onProgress: context.onProgress,
        });
        // The report lands in plaintext state: no credential may ride along in an error text.
        return redactor.scrubValue(report);
    });
}

function scrub(error: unknown, redactor: Redactor): Error {
    if (error instanceof PowerTransitionError) {
        return new PowerTransitionError(redactor.scrub(error.message), redactor.scrubValue(error.report as TransitionReport));
    }
    return redactor.scrubError(error);
}
