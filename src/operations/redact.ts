/**
 * Removes every credential value from a text before it can reach a log, an error or state.
 * The drivers already avoid echoing secrets; this is the last line of defence at the boundary.
 */
export function secretValues(credentials: unknown): string[] {
    const found: string[] = [];
    const walk = (value: unknown): void => {
        if (typeof value === "string" && value.length >= 3) found.push(value);
        else if (value && typeof value === "object") Object.values(value).forEach(walk);
    };
    walk(credentials);
    // Longest first, so a secret containing another is removed whole.
    return found.sort((a, b) => b.length - a.length);
}

export function redact(text: string, secrets: readonly string[]): string {
    let result = text;
    for (const secret of secrets) {
        result = result.split(secret).join("***");
        const encoded = encodeURIComponent(secret);
        if (encoded !== secret) result = result.split(encoded).join("***");
    }
    return result;
}

/** An Error whose message (and stack) carry no secrets. */
export function redactError(error: unknown, secrets: readonly string[]): Error {
    const message = error instanceof Error ? error.message : String(error);
    const cleaned = redact(message, secrets);
    // Keep the original (its type matters to callers) when it carried no secret.
    if (error instanceof Error && cleaned === message && !secrets.some((s) => (error.stack ?? "").includes(s))) return error;
    const clean = new Error(cleaned);
    clean.name = error instanceof Error ? error.name : "Error";
    return clean;
}
