export * from "./types";
export { planGuest, guestDefaults } from "./validate";
export { GuestPlan, PlannedHook, PlannedService, PlannedRequest } from "./plan";
export { checkGuestBudget, guestBudget, GuestBudget, BudgetItem, azureShutdownLimitMs } from "./budget";
export { renderGuestUserData, renderPlan, RenderGuestOptions, RenderedGuest } from "./render";
export { guestPaths } from "./hooks";
export { guestAgentPackages } from "./agents";
export { shellQuote, shellCommand } from "./shell";
