/**
 * Test harness: runs Pulumi programs under `setMocks` while every dynamic resource goes to the REAL
 * dynamic-provider host over gRPC (see engine.ts for what it does and does not simulate).
 *
 *     const engine = await startEngine();                 // once per test file (beforeAll); ~0.6 s host start
 *     const r = await engine.up(() => { new GracefulVm("web", {...}); });
 *     expect(r.steps.map((s) => s.op)).toEqual(["create"]);
 *     expect(r.outputs("web-power").observedPowerState).toBe("running");
 *     await engine.up(program, { preview: true });        // Check + Diff only
 *     await engine.refresh(); await engine.destroy();      // deletes by the dependency graph, in parallel groups
 *     await engine.up(program, { replace: ["web-power"] }); // pulumi up --replace
 *     await engine.up(program, { refresh: true });         // pulumi up --refresh (options: refresh: always)
 *     await engine.up(program, { interruptWhen: () => ... }); // killed mid-way: engine.pendingOperations()
 *     startEngine({ fakeProviders: { "my:index:Vm": {...} } }) // the VM's own resource, tracked in the graph
 *     expect(engine.hostLogs()).not.toContain(secret);
 *     await engine.close();                               // afterAll
 *
 * Failures reject with EngineError (`step`, `grpcCode`, `checkFailures`, `result`).
 */
export * from "./host";
export * from "./engine";
