import { platformNames } from "../../src/drivers/platform";
import { platformSpec } from "../../src/drivers/registry";
import { renderGuestUserData } from "../../src/guest/render";
import { errorsOf } from "../helpers/inputErrors";

/** `#cloud-config` with one file of `bytes` bytes: user-data of roughly that size. */
function bigUserData(bytes: number): string {
    return `#cloud-config\nwrite_files:\n  - path: /etc/big\n    content: ${"x".repeat(bytes)}\n`;
}

const render = (platform: (typeof platformNames)[number], userData: string, preStop: unknown = undefined): string =>
    renderGuestUserData(preStop, { userData }, { platform, gracefulTimeoutMs: 60_000 }).userData;

describe("user-data is checked against each platform's limit", () => {
    test.each(platformNames)("%s declares a limit and where it comes from", (platform) => {
        const { bytes, source } = platformSpec(platform).userDataLimit;
        expect(bytes).toBeGreaterThan(16_384);
        expect(source).toMatch(/\d+|cap/);
    });

    test("Azure: 70 KB of user-data is refused (customData takes 65535 bytes), naming lifecycle.userData", () => {
        const errors = errorsOf(() => render("azure", bigUserData(70_000)));
        expect(errors[0]).toMatchObject({ field: "lifecycle.userData", message: expect.stringMatching(/65535.*customData/) });
        expect(render("libvirt", bigUserData(70_000)).length).toBeGreaterThan(70_000);
    });

    test("vSphere: 600 KB is refused (cloud-init customization takes 524288 bytes); 400 KB is fine", () => {
        expect(errorsOf(() => render("vsphere", bigUserData(600_000)))[0].message).toMatch(/524288/);
        expect(render("vsphere", bigUserData(400_000)).length).toBeGreaterThan(400_000);
    });

    test.each(["libvirt", "proxmox"] as const)("%s: more than 1 MiB is refused", (platform) => {
        expect(errorsOf(() => render(platform, bigUserData(1_100_000)))[0].field).toBe("lifecycle.userData");
    });

    test("hooks alone that make the user-data too large name preStop", () => {
        const preStop = Array.from({ length: 40 }, (_, i) => ({ name: `h${i}`, exec: { script: "echo ".repeat(400) }, timeout: "1s" }));
        expect(errorsOf(() => renderGuestUserData(preStop, undefined, { platform: "azure", gracefulTimeoutMs: 120_000 }))[0].field).toBe(
            "preStop",
        );
    });
});
