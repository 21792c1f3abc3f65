import * as http from "http";
import { AddressInfo } from "net";
import { collectBody } from "../../src/drivers/responseBody";

/** The bounded body reader the Azure, Proxmox and vSphere HTTP clients share, against a local server. */
describe("collectBody", () => {
    let server: http.Server;
    let url: string;

    beforeAll(async () => {
        server = http.createServer((req, res) => {
            const size = Number(new URL(req.url ?? "/", "http://x").searchParams.get("size"));
            res.end("é".repeat(size / 2));
        });
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
        url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
        await new Promise((resolve) => server.close(resolve));
    });

    function fetch(size: number, maxBytes: number): Promise<{ text?: string; tooLarge: number; error?: Error }> {
        return new Promise((resolve) => {
            let tooLarge = 0;
            const request = http.get(`${url}/?size=${size}`, (response) => {
                collectBody(
                    response,
                    maxBytes,
                    () => {
                        tooLarge++;
                        request.destroy(new Error("too large"));
                    },
                    (text) => resolve({ text, tooLarge }),
                );
            });
            request.on("error", (error) => resolve({ tooLarge, error }));
        });
    }

    test("hands over the whole body as UTF-8 when it fits", async () => {
        expect(await fetch(2_000, 2_000)).toEqual({ text: "é".repeat(1_000), tooLarge: 0 });
    });

    test("past the limit it calls tooLarge and never hands over a cut-off body", async () => {
        const result = await fetch(4 * 1024 * 1024, 1_000);
        expect(result.text).toBeUndefined();
        expect(result.tooLarge).toBeGreaterThanOrEqual(1);
        expect(result.error?.message).toBe("too large");
    });
});
