import * as YAML from "yaml";

/**
 * cloud-init reads user-data with PyYAML, a YAML 1.1 parser; this emits YAML both PyYAML and
 * YAML 1.2 parsers read back to exactly the given values:
 * - the 1.1 schema, so strings such as `yes`, `on`, `0644` or `1:20` are quoted rather than
 *   read back by PyYAML as booleans or numbers;
 * - strings holding characters PyYAML rejects in a stream (C0/C1 controls, U+FFFE/U+FFFF)
 *   or reads as line breaks (U+0085, U+2028, U+2029) or a BOM (U+FEFF) are double-quoted
 *   with those characters as `\uXXXX` escapes.
 */
export function stringifyCloudConfig(value: Readonly<Record<string, unknown>>, comment: readonly string[] = []): string {
    if (comment.some((line) => /[\r\n\u0085\u2028\u2029]/.test(line))) throw new Error("a comment line cannot hold a line break");
    const doc = new YAML.Document(value, { version: "1.1" });
    YAML.visit(doc, {
        Scalar(_key, node) {
            if (typeof node.value === "string" && needsEscapes.test(node.value)) node.type = "QUOTE_DOUBLE";
        },
    });
    // Indented by 4, as prettier formats YAML in this repository, so formatting leaves rendered examples alone.
    const text = doc.toString({ lineWidth: 0, directives: false, indent: 4 });
    // Every such character is inside a double-quoted scalar now (the visitor forced it), where
    // `\uXXXX` is the escape both YAML versions define.
    const header = comment.map((line) => `# ${line}\n`).join("");
    return `#cloud-config\n${header}${text.replace(needsEscapesGlobal, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)}`;
}

const unsafeCharacters = "[\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f\\u2028\\u2029\\ufeff\\ufffe\\uffff]";
const needsEscapes = new RegExp(unsafeCharacters);
const needsEscapesGlobal = new RegExp(unsafeCharacters, "g");

/** Parses YAML the way cloud-init does (1.1 types), for merging a user's own cloud-config. */
export function parseYaml11(text: string): unknown {
    return YAML.parse(text, { version: "1.1", uniqueKeys: true });
}
