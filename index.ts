// First: a clear error when the optional peer @pulumi/pulumi is missing.
import "./components/pulumiPeer";
export * from "./components";
export * from "./src/power";
export * from "./src/providers";
export * from "./src/operations";
export type { PlatformName, PlatformSpec, DriverContext, DriverFactory } from "./src/drivers/platform";
export type {
    PreStopHook,
    GuestLifecycleArgs,
    GuestServiceArgs,
    ExecHookArgs,
    DrainHookArgs,
    HttpRequestArgs,
    HttpMethod,
} from "./src/guest/types";
export { renderGuestUserData, checkGuestBudget, planGuest } from "./src/guest";
