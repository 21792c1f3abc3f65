/** @type {import('jest').Config} */
module.exports = {
    testEnvironment: "node",
    roots: ["<rootDir>/test"],
    testMatch: ["**/*.test.ts"],
    transform: { "^.+\\.ts$": ["ts-jest", { diagnostics: false, tsconfig: { isolatedModules: true } }] },
    // Real peers boot guests under software emulation: a few of these tests take seconds.
    testTimeout: 60_000,
    maxWorkers: 2,
    // Coverage would instrument the serialized provider text (see the Pulumi testing notes).
    collectCoverage: false,
    setupFilesAfterEnv: ["<rootDir>/test/helpers/everyTestAsserts.ts"],
    // Links node_modules/pulumi-graceful-vm and builds lib/ when missing or stale, so a bare `npx jest`
    // can start the dynamic-provider host (scripts/test.sh does the same before jest).
    globalSetup: "<rootDir>/test/helpers/globalSetup.ts",
    // After the summary: one line per peer whose tests skipped, with the reason (once, not per file).
    reporters: ["default", "<rootDir>/scripts/jest-peer-skips.js"],
};
