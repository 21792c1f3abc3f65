/**
 * Removes every credential, and every token obtained with one, from a text before it can reach
 * a log, an error, a report or CLI output. The drivers already avoid echoing secrets; this is
 * the last line of defence at the boundary, and it follows the secret: servers echo what they
 * received in their own encoding (form-encoded in a token endpoint's error, XML-escaped in a
 * SOAP fault, JSON-escaped in a body), so each secret is removed in every form it can take.
 */

/** Shorter values are not redacted: they would mangle ordinary words and numbers. */
const minimumSecretLength = 3;

/** Every string inside `credentials` (nested objects too). */
export function secretValues(credentials: unknown): string[] {
    const found: string[] = [];
    const walk = (value: unknown): void => {
        if (typeof value === "string" && value.length >= minimumSecretLength) found.push(value);
        else if (value && typeof value === "object") Object.values(value).forEach(walk);
    };
    walk(credentials);
    return found;
}

/** The forms a secret takes on the wire and in answers that echo it. */
export function encodedForms(secret: string): string[] {
    const forms = new Set<string>([secret]);
    const add = (form: string): void => {
        if (form.length >= minimumSecretLength) forms.add(form);
    };
    add(encodeURIComponent(secret));
    add(encodeURIComponent(secret).replace(/%20/g, "+"));
    add(new URLSearchParams({ s: secret }).toString().slice(2));
    add(encodeURI(secret));
    add(escapeXmlText(secret, false));
    add(escapeXmlText(secret, true));
    add(JSON.stringify(secret).slice(1, -1));
    add(asciiJson(secret));
    add(JSON.stringify(secret).slice(1, -1).replace(/\//g, "\\/"));
    const bytes = Buffer.from(secret, "utf8");
    add(bytes.toString("base64"));
    add(bytes.toString("base64").replace(/=+$/, ""));
    add(bytes.toString("base64url"));
    // Twice-encoded forms: a form body quoted inside JSON or XML.
    for (const form of [...forms]) {
        add(JSON.stringify(form).slice(1, -1));
        add(escapeXmlText(form, false));
    }
    return [...forms];
}

function escapeXmlText(text: string, numeric: boolean): string {
    const names: Record<string, string> = numeric
        ? { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&#34;", "'": "&#39;" }
        : { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" };
    return text.replace(/[&<>"']/g, (c) => names[c]);
}

/** JSON as ASCII-only writers produce it (`\u00fc`), lower and upper case hex. */
function asciiJson(text: string): string {
    return JSON.stringify(text)
        .slice(1, -1)
        .replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/**
 * The secrets of one operation. Credentials are added when the operation starts; tokens and
 * session cookies when a driver obtains them (`add`), so they are scrubbed from then on too.
 */
export class Redactor {
    private forms: string[] = [];
    private readonly seen = new Set<string>();

    constructor(secrets: readonly string[] = []) {
        secrets.forEach((s) => this.add(s));
    }

    /** Registers a secret (and its encoded forms). Short or empty values are ignored. */
    add(secret: string): void {
        if (typeof secret !== "string" || secret.length < minimumSecretLength || this.seen.has(secret)) return;
        this.seen.add(secret);
        for (const form of encodedForms(secret)) {
            if (!this.forms.includes(form)) this.forms.push(form);
            const lower = form.toLowerCase();
            // Percent-encoding may use lower-case hex.
            if (lower !== form && /%[0-9A-F]{2}/.test(form)) this.forms.push(form.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()));
        }
        // Longest first, so a secret containing another is removed whole.
        this.forms.sort((a, b) => b.length - a.length);
    }

    get size(): number {
        return this.seen.size;
    }

    scrub(text: string): string {
        let result = text;
        for (const form of this.forms) if (result.includes(form)) result = result.split(form).join("***");
        return result;
    }

    /** Whether `text` still holds a registered secret in any known form. */
    leaks(text: string): boolean {
        return this.forms.some((form) => text.includes(form));
    }

    /** An Error whose message (and stack) carry no secrets, keeping the original when clean. */
    scrubError(error: unknown): Error {
        const message = error instanceof Error ? error.message : String(error);
        const cleaned = this.scrub(message);
        if (error instanceof Error && cleaned === message && !this.leaks(error.stack ?? "")) return error;
        const clean = new Error(cleaned);
        clean.name = error instanceof Error ? error.name : "Error";
        return clean;
    }

    /** A JSON value (a report) with every secret removed from its strings. */
    scrubValue<T>(value: T): T {
        return this.forms.length === 0 || value === undefined ? value : (JSON.parse(this.scrub(JSON.stringify(value))) as T);
    }
}

/** One-shot helpers for callers holding a plain list. */
export function redact(text: string, secrets: readonly string[]): string {
    return new Redactor(secrets).scrub(text);
}

export function redactError(error: unknown, secrets: readonly string[]): Error {
    return new Redactor(secrets).scrubError(error);
}
