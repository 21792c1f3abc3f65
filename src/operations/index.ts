// The layer shared by the Pulumi provider and the CLI: validated inputs, a driver opened for
// them, the sequence run, credentials scrubbed from whatever leaves. No Pulumi here.
export type { VmPowerInputs, VmPowerOutputs } from "./inputs";
export { validateInputs, parseInputs, inputDefaults } from "./inputs";
export type { OperationContext } from "./run";
export { transition, withDriver } from "./run";
