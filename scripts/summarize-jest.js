#!/usr/bin/env node
// Prints jest's result as the one line CI reads: `N passed, N failed, N skipped`.
const fs = require("fs");
const file = process.argv[2];
let result;
try {
    result = JSON.parse(fs.readFileSync(file, "utf8"));
} catch (e) {
    console.log("0 passed, 1 failed");
    process.exit(1);
}
// A suite that fails to load has no test results but must count as a failure.
const brokenSuites = result.testResults.filter((s) => s.status === "failed" && s.assertionResults.length === 0).length;
const failed = result.numFailedTests + brokenSuites;
console.log(`${result.numPassedTests} passed, ${failed} failed, ${result.numPendingTests + result.numTodoTests} skipped`);
