export * from "./gracefulVm";
export * from "./gracefulVmArgs";
export * from "./targets";
export * from "./gracefulVmGroup";
