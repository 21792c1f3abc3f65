export * from "./states";
export * from "./duration";
export * from "./errors";
export * from "./clock";
export * from "./driver";
export * from "./report";
export * from "./transition";
export * from "./fleet";
