export * from "./components";
export * from "./src/power";
export * from "./src/providers";
export type { PlatformName, PlatformSpec, DriverContext, DriverFactory } from "./src/drivers/platform";
export type { PreStopHook } from "./src/guest/types";
