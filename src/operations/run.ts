import { loadDriverFactory, platformSpec } from "../drivers/registry";
import { Clock, systemClock } from "../power/clock";
import { Driver } from "../power/driver";
import { parseDuration } from "../power/duration";
import { PowerTransitionError } from "../power/errors";
import { TransitionReport } from "../power/report";
import { DesiredPowerState } from "../power/states";
import { TransitionRequest, runTransition } from "../power/transition";
import { VmPowerInputs } from "./inputs";
import { redact, redactError, secretValues } from "./redact";

/**
 * Opening a driver and running the sequence, shared by the Pulumi provider and the CLI so both
 * behave the same. Every error leaving here is scrubbed of credentials.
 */
export interface OperationContext {
    readonly clock?: Clock;
    readonly log?: (message: string) => void;
    readonly onProgress?: TransitionRequest["onProgress"];
}

export async function withDriver<T>(inputs: VmPowerInputs, context: OperationContext, use: (driver: Driver) => Promise<T>): Promise<T> {
    const secrets = secretValues(inputs.credentials);
    const log = (message: string): void => context.log?.(redact(message, secrets));
    try {
        const spec = platformSpec(inputs.platform, "target");
        const target = spec.parseTarget(inputs.target, `target.${inputs.platform}`);
        const credentials = spec.parseCredentials(inputs.credentials, `target.${inputs.platform}`);
        const createDriver = loadDriverFactory(spec.name);
        const driver = await createDriver(target, credentials, { clock: context.clock ?? systemClock, log });
        try {
            return await use(driver);
        } finally {
            await driver.close().catch((e: unknown) => log(`closing the ${inputs.platform} connection failed: ${String(e)}`));
        }
    } catch (e) {
        throw scrub(e, secrets);
    }
}

/** Runs the sequence towards `desired` with the inputs' timeouts and policy. */
export function transition(inputs: VmPowerInputs, desired: DesiredPowerState, context: OperationContext = {}): Promise<TransitionReport> {
    return withDriver(inputs, context, async (driver) => {
        const report = await runTransition(driver, context.clock ?? systemClock, {
            desired,
            gracefulTimeoutMs: parseDuration(inputs.gracefulShutdownTimeout, "gracefulShutdownTimeout"),
            force: inputs.forceAfterTimeout,
            stopBeforeDeallocate: inputs.stopBeforeDeallocate,
            waitForGuestAgent: inputs.waitForGuestAgent,
            onProgress: context.onProgress,
        });
        // The report lands in plaintext state: no credential may ride along in an error text.
        return redactReport(report, secretValues(inputs.credentials));
    });
}

function scrub(error: unknown, secrets: readonly string[]): Error {
    if (error instanceof PowerTransitionError) {
        return new PowerTransitionError(redact(error.message, secrets), redactReport(error.report as TransitionReport, secrets));
    }
    return redactError(error, secrets);
}

function redactReport(report: TransitionReport, secrets: readonly string[]): TransitionReport {
    return secrets.length === 0 ? report : (JSON.parse(redact(JSON.stringify(report), secrets)) as TransitionReport);
}
