export * from "./vmPower";
export type { VmPowerInputs, VmPowerOutputs } from "./inputs";
export { validateInputs, parseInputs, inputDefaults } from "./inputs";
export type { OperationContext } from "./operations";
export { transition, withDriver } from "./operations";
