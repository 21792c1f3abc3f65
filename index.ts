export * from "./components";
export * from "./src/power";
export * from "./src/providers";
export { PlatformName, PlatformSpec, DriverContext, DriverFactory } from "./src/drivers/platform";
export { PreStopHook } from "./src/guest/types";
