import { ArmError } from "../../src/drivers/azure/arm";
import { systemClock } from "../../src/power/clock";
import { AuthenticationError, VmNotFoundError } from "../../src/power/errors";
import { runTransition } from "../../src/power/transition";
import { AzurePowerState, LroStyle, cloudError } from "../contracts/azure/server";
import { clientSecret, closeAll, startRig } from "./setup";

afterEach(closeAll);

const lroStyles: LroStyle[] = ["location", "azure-asyncoperation", "both", "sync"];

describe("azure driver: observed state", () => {
    const codes: Array<[AzurePowerState, string]> = [
        ["running", "running"],
        ["starting", "starting"],
        ["stopping", "stopping"],
        ["stopped", "stopped"],
        ["deallocating", "deallocating"],
        ["deallocated", "deallocated"],
    ];
    test.each(codes)("PowerState/%s reads as %s, from the code and not displayStatus", async (azureState, expected) => {
        const rig = await startRig({}, { powerState: azureState });
        const state = await rig.driver().readState();
        expect(state).toEqual({ state: expected, detail: `PowerState/${azureState}` });
    });

    test("an instance view without a PowerState code is read again, not taken as unknown", async () => {
        const rig = await startRig();
        rig.server.inject({
            method: "GET",
            path: /instanceView$/,
            status: 200,
            body: { statuses: [{ code: "ProvisioningState/creating", displayStatus: "VM running" }] },
        });
        expect(await rig.driver().readState()).toEqual({ state: "running", detail: "PowerState/running" });
    });

    test("an instance view that keeps lacking a PowerState code is unknown, with the provisioning state as detail", async () => {
        const rig = await startRig();
        for (let i = 0; i < 4; i++) {
            rig.server.inject({
                method: "GET",
                path: /instanceView$/,
                status: 200,
                body: { statuses: [{ code: "ProvisioningState/creating", displayStatus: "VM running" }] },
            });
        }
        expect(await rig.driver().readState()).toEqual({ state: "unknown", detail: "ProvisioningState/creating" });
    }, 20_000);

    test("every ARM request carries a bearer token and an api-version", async () => {
        const rig = await startRig();
        await rig.driver().readState();
        const arm = rig.server.armRequests();
        expect(arm.length).toBeGreaterThan(0);
        expect(arm.every((r) => r.auth === "bearer" && r.query["api-version"] === "2025-04-01")).toBe(true);
    });

    test("a missing VM is VmNotFoundError naming it", async () => {
        const rig = await startRig();
        const driver = rig.driver({}, undefined, { vmName: "nope-9" });
        await expect(driver.readState()).rejects.toBeInstanceOf(VmNotFoundError);
        await expect(driver.readState()).rejects.toThrow(/VM nope-9 was not found: ResourceNotFound/);
    });
});

test("404 SubscriptionNotFound is not mistaken for a deleted VM", async () => {
    const rig = await startRig();
    rig.server.inject({
        path: /instanceView$/,
        status: 404,
        body: cloudError("SubscriptionNotFound", "The subscription could not be found."),
    });
    const failure = rig.driver().readState();
    await expect(failure).rejects.toBeInstanceOf(ArmError);
    await expect(failure).rejects.toThrow(/SubscriptionNotFound/);
});

describe.each(lroStyles)("azure driver with LRO style %s", (lroStyle) => {
    test("OffGraceful: the guest shuts down within the timeout; no hard power-off is sent", async () => {
        const rig = await startRig({ lroStyle }, { guest: { kind: "shutsDown", afterMs: 300 } });
        const report = await runTransition(rig.driver(), systemClock, { desired: "OffGraceful", gracefulTimeoutMs: 10_000 });
        expect(report).toMatchObject({
            from: "running",
            to: "stopped",
            method: "graceful",
            gracefulMethod: "azure-integrated",
            stateDetail: "PowerState/stopped",
        });
        expect(report.fallbackReason).toBeUndefined();
        expect(rig.vm.lastStop).toBe("guest");
        const powerOffs = rig.server.armRequests().filter((r) => r.path.endsWith("/powerOff"));
        expect(powerOffs.map((r) => r.query.skipShutdown)).toEqual(["false"]);
        // Woken by the operation's end, not by a slow poll: well under the timeout.
        expect(report.durationMs).toBeLessThan(3_000);
    });

    test("OffGraceful: a guest that never stops is forced off at our deadline, before Azure's own limit", async () => {
        const rig = await startRig(
            { lroStyle: lroStyle === "sync" ? "both" : lroStyle, platformForceAfterMs: 30_000 },
            { guest: { kind: "ignoresShutdown" } },
        );
        const report = await runTransition(rig.driver(), systemClock, { desired: "OffGraceful", gracefulTimeoutMs: 1_500 });
        expect(report).toMatchObject({ to: "stopped", method: "forced", fallbackReason: "timeout" });
        expect(rig.vm.lastStop).toBe("skipShutdown");
        const [graceful, hard] = rig.server.armRequests().filter((r) => r.path.endsWith("/powerOff") && r.method === "POST");
        expect(graceful.query.skipShutdown).toBe("false");
        expect(hard.query.skipShutdown).toBe("true");
        expect(hard.at - graceful.at).toBeGreaterThanOrEqual(1_400);
        expect(hard.at - graceful.at).toBeLessThan(5_000);
        expect(rig.vm.history).toContain("stopping->stopped (powered off without shutdown)");
    });

    test("Off powers off with skipShutdown=true only", async () => {
        const rig = await startRig({ lroStyle });
        const report = await runTransition(rig.driver(), systemClock, { desired: "Off", gracefulTimeoutMs: 60_000 });
        expect(report).toMatchObject({ to: "stopped", method: "forced" });
        const posts = rig.server.armRequests().filter((r) => r.method === "POST");
        expect(posts.map((r) => [r.path.split("/").pop(), r.query.skipShutdown])).toEqual([["powerOff", "true"]]);
    });

    test("Deallocated: graceful stop, then deallocate", async () => {
        const rig = await startRig({ lroStyle }, { guest: { kind: "shutsDown", afterMs: 200 } });
        const report = await runTransition(rig.driver(), systemClock, { desired: "Deallocated", gracefulTimeoutMs: 10_000 });
        expect(report).toMatchObject({ from: "running", to: "deallocated", method: "graceful", stateDetail: "PowerState/deallocated" });
        const posts = rig.server
            .armRequests()
            .filter((r) => r.method === "POST")
            .map((r) => r.path.split("/").pop());
        expect(posts).toEqual(["powerOff", "deallocate"]);
        expect(rig.vm.powerState).toBe("deallocated");
    });

    test("On starts a deallocated VM", async () => {
        const rig = await startRig({ lroStyle }, { powerState: "deallocated" });
        const report = await runTransition(rig.driver(), systemClock, { desired: "On", gracefulTimeoutMs: 60_000 });
        expect(report).toMatchObject({ from: "deallocated", to: "running", method: "powerOn" });
        expect(
            rig.server
                .armRequests()
                .filter((r) => r.method === "POST")
                .map((r) => r.path.split("/").pop()),
        ).toEqual(["start"]);
    });

    test("an operation that ends Failed rejects with ARM's error code", async () => {
        const rig = await startRig({ lroStyle }, { powerState: "deallocated" });
        rig.server.failNextOperation("start", {
            code: "AllocationFailed",
            message: "Allocation failed. We do not have sufficient capacity.",
            httpStatus: 409,
        });
        const failure = rig.driver().powerOn();
        await expect(failure).rejects.toBeInstanceOf(ArmError);
        await expect(failure).rejects.toMatchObject({ code: "AllocationFailed" });
        await expect(failure).rejects.toThrow(/AllocationFailed: Allocation failed/);
    });
});

describe("azure driver: long-running operation details", () => {
    test("a Canceled operation (Azure-AsyncOperation) is an error naming Canceled and the code", async () => {
        const rig = await startRig({ lroStyle: "azure-asyncoperation" }, { powerState: "stopped" });
        rig.server.failNextOperation("deallocate", {
            status: "Canceled",
            code: "OperationCanceled",
            message: "The operation was canceled.",
        });
        await expect(rig.driver().deallocate()).rejects.toThrow(/Azure deallocate ended Canceled: OperationCanceled/);
    });

    test("Retry-After on the operation is honoured between polls", async () => {
        const rig = await startRig({ lroStyle: "location", retryAfterSeconds: 1, operationMs: 1_200 }, { powerState: "stopped" });
        await rig.driver().powerOn();
        const polls = rig.server.armRequests().filter((r) => r.path.includes("/operationResults/"));
        expect(polls.length).toBeGreaterThanOrEqual(1);
        const post = rig.server.armRequests().find((r) => r.method === "POST")!;
        expect(polls[0].at - post.at).toBeGreaterThanOrEqual(950);
        for (let i = 1; i < polls.length; i++) expect(polls[i].at - polls[i - 1].at).toBeGreaterThanOrEqual(950);
    });

    test("a status URL on another host is never sent the token; the VM's state is followed instead", async () => {
        const rig = await startRig({ operationMs: 200 }, { powerState: "stopped" });
        rig.server.inject({
            method: "POST",
            path: /\/start$/,
            status: 202,
            headers: { Location: "https://attacker.example/steal", "Retry-After": "0" },
        });
        const driver = rig.driver();
        await driver.powerOn();
        expect(rig.logs.join("\n")).toMatch(/ignoring an operation status URL on attacker\.example/);
    });
});

describe("azure driver: conflicts and throttling", () => {
    test("409 OperationNotAllowed on powerOff of a deallocated VM counts as done", async () => {
        const rig = await startRig({}, { powerState: "deallocated" });
        await expect(rig.driver().powerOffHard()).resolves.toBeUndefined();
        const conflict = rig.server.armRequests().find((r) => r.method === "POST");
        expect(conflict?.status).toBe(409);
    });

    test("409 while another operation runs: waits for it to finish, then retries once", async () => {
        const rig = await startRig({ operationMs: 2_000 }, { powerState: "stopped" });
        const driver = rig.driver();
        const starting = driver.powerOn();
        await new Promise((r) => setTimeout(r, 100));
        const other = rig.driver();
        await other.powerOffHard();
        await starting;
        const posts = rig.server.armRequests().filter((r) => r.method === "POST");
        expect(posts.map((r) => `${r.path.split("/").pop()} ${r.status}`)).toEqual(["start 202", "powerOff 409", "powerOff 202"]);
        expect(rig.vm.powerState).toBe("stopped");
        expect(rig.logs.join("\n")).toMatch(/refused powerOff while the VM is PowerState\/starting \(409 Conflict\)/);
    });

    test("a 409 that does not go away is reported with ARM's code and the VM's state", async () => {
        const rig = await startRig({}, { powerState: "stopped" });
        rig.server.inject({
            method: "POST",
            path: /\/start$/,
            status: 409,
            body: cloudError("OperationNotAllowed", "The VM is locked by a scale operation."),
            times: 1,
        });
        await expect(rig.driver().powerOn()).rejects.toThrow(
            /Azure start failed with HTTP 409: OperationNotAllowed: The VM is locked by a scale operation\. \(the VM is PowerState\/stopped\)/,
        );
    });

    test("429 on a read is retried after Retry-After", async () => {
        const rig = await startRig();
        rig.server.inject({
            method: "GET",
            path: /instanceView$/,
            status: 429,
            headers: { "Retry-After": "1" },
            body: cloudError("TooManyRequests", "throttled"),
        });
        const started = Date.now();
        expect((await rig.driver().readState()).state).toBe("running");
        expect(Date.now() - started).toBeGreaterThanOrEqual(950);
        expect(rig.server.armRequests().map((r) => r.status)).toEqual([429, 200]);
        expect(rig.logs.join("\n")).toMatch(/throttling requests \(429\); retrying in 1s/);
    });

    test("429 on a power action is retried after Retry-After, and the action happens once", async () => {
        const rig = await startRig({}, { powerState: "stopped" });
        rig.server.inject({
            method: "POST",
            path: /\/start$/,
            status: 429,
            headers: { "Retry-After": "1" },
            body: cloudError("TooManyRequests", "throttled"),
        });
        await rig.driver().powerOn();
        const posts = rig.server.armRequests().filter((r) => r.method === "POST");
        expect(posts.map((r) => r.status)).toEqual([429, 202]);
        expect(posts[1].at - posts[0].at).toBeGreaterThanOrEqual(950);
        expect(rig.vm.history.filter((h) => h.includes("(start)"))).toHaveLength(1);
    });
});

describe("azure driver: credentials", () => {
    test("a wrong client secret is an AuthenticationError with Entra's code and without the secret", async () => {
        const rig = await startRig();
        const driver = rig.driver({}, { clientSecret: "wrong-secret-value-123" });
        const failure = driver.readState();
        await expect(failure).rejects.toBeInstanceOf(AuthenticationError);
        await expect(failure).rejects.toThrow(/invalid_client \(AADSTS7000215/);
        const message = await failure.catch((e: Error) => `${e.message}\n${e.stack}`);
        expect(message).not.toContain("wrong-secret-value-123");
        expect(rig.server.armRequests()).toHaveLength(0);
    });

    test("an unknown tenant is refused before ARM is called", async () => {
        const rig = await startRig();
        await expect(rig.driver({}, undefined, { tenantId: "11111111-2222-3333-4444-555555555555" }).readState()).rejects.toThrow(
            /AADSTS90002/,
        );
    });

    test("an expired or revoked token is refreshed once", async () => {
        const rig = await startRig();
        const driver = rig.driver();
        await driver.readState();
        rig.server.revokeTokens();
        expect((await driver.readState()).state).toBe("running");
        expect(rig.server.armRequests().map((r) => r.status)).toEqual([200, 401, 200]);
        expect(rig.server.issuedTokens).toHaveLength(2);
    });

    test("ARM refusing a fresh token too is an AuthenticationError, not retried further", async () => {
        const rig = await startRig();
        rig.server.inject({
            path: /instanceView$/,
            status: 401,
            body: cloudError("InvalidAuthenticationTokenTenant", "The access token is from the wrong issuer."),
            times: 5,
        });
        await expect(rig.driver().readState()).rejects.toThrow(/401 InvalidAuthenticationTokenTenant/);
        expect(rig.server.armRequests()).toHaveLength(2);
    });

    test("403 is an AuthenticationError that names the missing permission", async () => {
        const rig = await startRig();
        rig.server.inject({
            path: /powerOff$/,
            status: 403,
            body: cloudError(
                "AuthorizationFailed",
                "The client does not have authorization to perform action 'Microsoft.Compute/virtualMachines/powerOff/action'.",
            ),
        });
        await expect(rig.driver().powerOffHard()).rejects.toThrow(/403 AuthorizationFailed.*Virtual Machine Contributor/);
    });

    test("neither the client secret nor any bearer token reaches logs or errors", async () => {
        const rig = await startRig({}, { guest: { kind: "ignoresShutdown" } });
        rig.server.inject({ method: "GET", path: /instanceView$/, status: 429, headers: { "Retry-After": "0" } });
        const driver = rig.driver();
        await runTransition(driver, systemClock, { desired: "OffGraceful", gracefulTimeoutMs: 500 });
        rig.server.failNextOperation("start", { code: "AllocationFailed", message: "no capacity" });
        const error = await driver.powerOn().catch((e: Error) => `${e.message}\n${e.stack}`);
        const everything = [...rig.logs, String(error)].join("\n");
        expect(everything).toContain("AllocationFailed");
        expect(rig.server.issuedTokens.length).toBeGreaterThan(0);
        for (const secret of [clientSecret, ...rig.server.issuedTokens]) expect(everything).not.toContain(secret);
    });
});

describe("azure driver: guest agent and closing", () => {
    test("waitForGuestAgent answers once the VM agent reports ProvisioningState/succeeded", async () => {
        const rig = await startRig({ operationMs: 100 }, { powerState: "stopped", agentReadyAfterMs: 700 });
        const driver = rig.driver();
        await driver.powerOn();
        expect(await driver.waitForGuestAgent(Date.now() + 10_000)).toBe(true);
        expect(await rig.driver().waitForGuestAgent(Date.now())).toBe(true);
    });

    test("close() stops following a graceful powerOff at once", async () => {
        const rig = await startRig({ platformForceAfterMs: 60_000 }, { guest: { kind: "ignoresShutdown" } });
        const driver = rig.driver();
        await driver.requestGuestShutdown(Date.now() + 60_000);
        const started = Date.now();
        await driver.close();
        expect(Date.now() - started).toBeLessThan(1_000);
        const pollsBefore = rig.server.armRequests().length;
        await new Promise((r) => setTimeout(r, 300));
        expect(rig.server.armRequests().length).toBe(pollsBefore);
    });
});
