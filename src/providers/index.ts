export * from "./vmPower";
export { VmPowerInputs, VmPowerOutputs, validateInputs, parseInputs, inputDefaults } from "./inputs";
export { transition, withDriver, OperationContext } from "./operations";
