import { XmlElement, child, childText } from "./xml";

/**
 * A vim25 fault (`InvalidLogin`, `ToolsUnavailable`, `InvalidPowerState`, `TaskInProgress`,
 * `SystemError`, ...), from a SOAP Fault or from a failed Task's `info.error`. The driver maps
 * the few it acts on to the core's errors; the rest surface with their vSphere name.
 */
export class VimFault extends Error {
    constructor(
        /** The vim25 fault type, e.g. `InvalidPowerState`. */
        public readonly faultType: string,
        /** What the call was, e.g. `PowerOffVM_Task on vm-57`. */
        public readonly operation: string,
        public readonly faultString: string,
        /** The fault's own fields (`existingState`, `privilegeId`, ...), flattened to text. */
        public readonly fields: Readonly<Record<string, string>>,
    ) {
        super(describeFault(faultType, operation, faultString, fields));
        this.name = "VimFault";
    }
}

/** Fault types the driver treats alike whatever their subtype. */
const methodMissingFaults = ["MethodNotFound", "NotSupported", "NotImplemented"];

export function isFault(error: unknown, ...types: string[]): error is VimFault {
    return error instanceof VimFault && types.includes(error.faultType);
}

/** The server does not implement the method (vcsim, old ESXi): callers fall back. */
export function isMethodMissing(error: unknown): error is VimFault {
    return isFault(error, ...methodMissingFaults);
}

/** From `<soapenv:Fault>`: the type is the detail's XSI type, or its element name minus `Fault`. */
export function faultFromSoap(fault: XmlElement, operation: string): VimFault {
    const detail = child(fault, "detail")?.children[0];
    const faultType = detail?.xsiType ?? detail?.name.replace(/Fault$/, "") ?? childText(fault, "faultcode") ?? "UnknownFault";
    return new VimFault(faultType, operation, (childText(fault, "faultstring") ?? "").trim(), detail ? flattenFields(detail) : {});
}

/** From a Task's `info.error` (a LocalizedMethodFault). */
export function faultFromLocalizedMethodFault(value: XmlElement, operation: string): VimFault {
    const fault = child(value, "fault");
    const faultType = fault?.xsiType ?? "UnknownFault";
    const message = (childText(value, "localizedMessage") ?? "").trim();
    // vcsim writes its Go type name (`*types.InvalidPowerState`) here; it says nothing new.
    const useful = message.startsWith("*types.") ? "" : message;
    return new VimFault(faultType, operation, useful, fault ? flattenFields(fault) : {});
}

function flattenFields(element: XmlElement): Record<string, string> {
    const fields: Record<string, string> = {};
    for (const field of element.children) {
        if (field.children.length === 0 && field.text.trim() !== "" && fields[field.name] === undefined) {
            fields[field.name] = field.text.trim();
        }
    }
    return fields;
}

/** Fields worth showing a human, per fault type. */
const shownFields: Record<string, readonly string[]> = {
    InvalidPowerState: ["existingState", "requestedState"],
    NoPermission: ["privilegeId"],
    InvalidState: [],
    TaskInProgress: [],
};

function describeFault(faultType: string, operation: string, faultString: string, fields: Readonly<Record<string, string>>): string {
    const shown = (shownFields[faultType] ?? []).filter((name) => fields[name] !== undefined).map((name) => `${name}=${fields[name]}`);
    const parts = [faultString, ...shown].filter((p) => p !== "");
    return `vSphere ${operation} failed with ${faultType}${parts.length > 0 ? `: ${parts.join(", ")}` : ""}`;
}
