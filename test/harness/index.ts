export * from "./host";
export * from "./engine";
