export * from "./vmPower";
export * from "./vmGroup";
