import * as http from "http";

/**
 * Collects an HTTP(S) response's body as UTF-8 and hands it to `done` at its end. Past
 * `maxBytes` the rest is dropped and `tooLarge` is called (for each further chunk): it should
 * destroy the request or the response with an error, so `done` never sees a cut-off body.
 */
export function collectBody(response: http.IncomingMessage, maxBytes: number, tooLarge: () => void, done: (text: string) => void): void {
    const chunks: Buffer[] = [];
    let size = 0;
    response.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBytes) {
            tooLarge();
            return;
        }
        chunks.push(chunk);
    });
    response.on("end", () => done(Buffer.concat(chunks).toString("utf8")));
}
