export * from "./vmPower";
