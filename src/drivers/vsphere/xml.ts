import { XMLParser } from "fast-xml-parser";

/**
 * A namespace-resolved view of vim25 XML. fast-xml-parser keeps prefixes as written, and servers
 * disagree on them (vCenter writes `xsi:type`, vcsim `XMLSchema-instance:type`), so every
 * element and the XSI type are resolved through the in-scope `xmlns` declarations instead.
 */
export interface XmlElement {
    /** Local name, without prefix. */
    readonly name: string;
    readonly namespace: string | undefined;
    /** Attributes without a prefix (a ManagedObjectReference's `type`). */
    readonly attributes: Readonly<Record<string, string>>;
    /** Local part of the `type` attribute in the XML Schema instance namespace, if any. */
    readonly xsiType: string | undefined;
    /** Concatenated text content (entities decoded). */
    readonly text: string;
    readonly children: readonly XmlElement[];
}

export const xsiNamespace = "http://www.w3.org/2001/XMLSchema-instance";
export const soapEnvelopeNamespace = "http://schemas.xmlsoap.org/soap/envelope/";
export const vim25Namespace = "urn:vim25";

type OrderedNode = Record<string, unknown>;
type Scope = ReadonlyMap<string, string>;

const parser = new XMLParser({
    preserveOrder: true,
    ignoreAttributes: false,
    attributeNamePrefix: "",
    parseTagValue: false,
    parseAttributeValue: false,
    trimValues: false,
    processEntities: true,
    // Also decodes numeric references (`&#39;`), which vCenter writes in names and messages.
    htmlEntities: true,
    ignoreDeclaration: true,
    ignorePiTags: true,
});

/** Parses a document and returns its root element. Throws on text that is not XML. */
export function parseXml(text: string): XmlElement {
    const nodes = parser.parse(text) as OrderedNode[];
    const roots = nodes.filter((node) => elementName(node) !== undefined);
    if (roots.length !== 1) throw new Error("the response is not an XML document");
    return toElement(roots[0], new Map([["xml", "http://www.w3.org/XML/1998/namespace"]]));
}

function elementName(node: OrderedNode): string | undefined {
    return Object.keys(node).find((key) => key !== ":@" && key !== "#text" && !key.startsWith("?"));
}

function toElement(node: OrderedNode, parentScope: Scope): XmlElement {
    const qualifiedName = elementName(node) as string;
    const rawAttributes = (node[":@"] ?? {}) as Record<string, string>;
    const scope = new Map(parentScope);
    for (const [key, value] of Object.entries(rawAttributes)) {
        if (key === "xmlns") scope.set("", value);
        else if (key.startsWith("xmlns:")) scope.set(key.slice(6), value);
    }
    const attributes: Record<string, string> = {};
    let xsiType: string | undefined;
    for (const [key, value] of Object.entries(rawAttributes)) {
        if (key === "xmlns" || key.startsWith("xmlns:")) continue;
        const { prefix, local } = splitName(key);
        if (prefix === undefined) attributes[local] = value;
        else if (local === "type" && scope.get(prefix) === xsiNamespace) xsiType = splitName(value).local;
    }
    const { prefix, local } = splitName(qualifiedName);
    const content = (node[qualifiedName] ?? []) as OrderedNode[];
    const children: XmlElement[] = [];
    let text = "";
    for (const child of content) {
        if (typeof child["#text"] === "string" || typeof child["#text"] === "number") text += String(child["#text"]);
        else if (elementName(child) !== undefined) children.push(toElement(child, scope));
    }
    return { name: local, namespace: scope.get(prefix ?? ""), attributes, xsiType, text, children };
}

function splitName(name: string): { prefix: string | undefined; local: string } {
    const colon = name.indexOf(":");
    return colon < 0 ? { prefix: undefined, local: name } : { prefix: name.slice(0, colon), local: name.slice(colon + 1) };
}

export function child(element: XmlElement | undefined, name: string): XmlElement | undefined {
    return element?.children.find((c) => c.name === name);
}

export function children(element: XmlElement | undefined, name: string): XmlElement[] {
    return element ? element.children.filter((c) => c.name === name) : [];
}

export function childText(element: XmlElement | undefined, name: string): string | undefined {
    return child(element, name)?.text;
}

/** Escapes text for an element body or a double-quoted attribute. */
export function escapeXml(text: string): string {
    return text.replace(/[&<>"']/g, (c) => xmlEscapes[c]);
}

const xmlEscapes: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" };
