/**
 * POSIX shell quoting. A single-quoted word keeps every byte literally (`$`, backslashes,
 * newlines, `%`, unicode); only the quote itself needs closing, escaping and reopening. So a
 * quoted argv runs exactly the given arguments under any POSIX `/bin/sh` (dash, bash, busybox).
 */
export function shellQuote(word: string): string {
    if (/^[A-Za-z0-9_@%+:,./-]+$/.test(word)) return word;
    return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** `argv` as one shell command line that runs exactly those arguments. */
export function shellCommand(argv: readonly string[]): string {
    return argv.map(shellQuote).join(" ");
}
