import type { JsonName } from "@peculiar/x509";
import { DepotError } from "../errors.ts";

/**
 * Distinguished names as users type them. Two forms are read:
 * - OpenSSL's slash form, as the original accepted it, where both `/` and `,`
 *   separate attributes: `/UID=12/CN=Bob Owner,emailAddress=bob@example.com`;
 * - RFC 4514's comma form: `CN=Bob Owner,O=Example`.
 * The issued subject keeps the order given (we do not reverse RFC 4514 order),
 * values keep their inner spaces, and `\` escapes the next character (`\,`,
 * `\/`, `\=`, `\\`). We validate here rather than rely on @peculiar/x509's
 * Name parser, which accepts malformed names (its issue #139).
 */

type StringEncoding = "utf8String" | "printableString" | "ia5String";

interface AttributeSpec {
  /** The spelling OpenSSL prints and depot writes. */
  name: string;
  oid: string;
  encoding: StringEncoding;
  /** Upper bound on the value's length, from RFC 5280 appendix A. */
  maxLength: number;
}

const SPECS: AttributeSpec[] = [
  { name: "CN", oid: "2.5.4.3", encoding: "utf8String", maxLength: 64 },
  { name: "L", oid: "2.5.4.7", encoding: "utf8String", maxLength: 128 },
  { name: "ST", oid: "2.5.4.8", encoding: "utf8String", maxLength: 128 },
  { name: "O", oid: "2.5.4.10", encoding: "utf8String", maxLength: 64 },
  { name: "OU", oid: "2.5.4.11", encoding: "utf8String", maxLength: 64 },
  { name: "C", oid: "2.5.4.6", encoding: "printableString", maxLength: 2 },
  { name: "STREET", oid: "2.5.4.9", encoding: "utf8String", maxLength: 128 },
  { name: "DC", oid: "0.9.2342.19200300.100.1.25", encoding: "ia5String", maxLength: 63 },
  { name: "UID", oid: "0.9.2342.19200300.100.1.1", encoding: "utf8String", maxLength: 256 },
  { name: "emailAddress", oid: "1.2.840.113549.1.9.1", encoding: "ia5String", maxLength: 255 },
];
const SPEC_BY_NAME = new Map(SPECS.map((spec) => [spec.name.toLowerCase(), spec]));

export const MAX_DN_BYTES = 4096;

/** An RFC 5322 addr-spec as people write them: local@domain, the domain with a dot or not (localhost). */
const EMAIL = /^[^@\s"(),:;<>[\\\]]+@[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i;

export interface DnAttribute {
  name: string;
  oid: string;
  value: string;
}
export type DistinguishedName = DnAttribute[];

/** Characters that reorder text on display (Unicode bidi embeddings, overrides, isolates, marks). */
const BIDI_CONTROLS = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
/** What printable() escapes: C0 and C1 controls, DEL, line and paragraph separators, bidi controls. */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g;

/** How a refused character is named: 0x09 for a byte-sized one, U+202E above. */
const codePoint = (char: string) => {
  const code = char.codePointAt(0)!;
  return code < 0x100 ? `0x${code.toString(16).toUpperCase().padStart(2, "0")}` : `U+${code.toString(16).toUpperCase().padStart(4, "0")}`;
};

/**
 * Text from a certificate, a request or a user, safe to print on a terminal
 * or in a log line: controls and bidi characters become `\u{XXXX}`, so a name
 * can neither forge a line, move the cursor, nor read backwards. Names in
 * depots made elsewhere may hold them, so everything that prints a name
 * (list, show, the log, error messages) goes through here.
 */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (char) => `\\u{${char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}}`);
}

const fail = (message: string): never => {
  throw new DepotError("E_BAD_DN", message);
};

export function parseDn(text: string): DistinguishedName {
  if (Buffer.byteLength(text, "utf8") > MAX_DN_BYTES) fail(`distinguished name is longer than ${MAX_DN_BYTES} bytes`);
  if (!text.isWellFormed()) fail("distinguished name is not valid UTF-8");
  checkCharacters(text);
  const trimmed = text.trim();
  if (trimmed === "") fail("distinguished name is empty");

  const slashForm = trimmed.startsWith("/");
  const pieces = splitUnescaped(slashForm ? trimmed.slice(1) : trimmed, slashForm ? "/," : ",");
  return pieces.map(parseAttribute);
}

/** Controls and bidi characters have no place in a name, however it is given. */
function checkCharacters(text: string): void {
  const control = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.exec(text);
  if (control) fail(`distinguished name holds a control character (${codePoint(control[0])})`);
  // A right-to-left override makes "Bob\u202Etxt.exe" print as "Bobexe.txt": refuse them.
  const bidi = BIDI_CONTROLS.exec(text);
  if (bidi) fail(`distinguished name holds a bidirectional control character (${codePoint(bidi[0])})`);
}

/** Helper for callers that build a name from separate options (--cn, --uid). */
export function attribute(name: string, value: string): DnAttribute {
  checkCharacters(value);
  return parseAttribute({ text: `${name}=${value}`, equalsAt: [name.length] });
}

interface Piece {
  /** The piece with escapes resolved. */
  text: string;
  /** Offsets in `text` of `=` signs that were not escaped. */
  equalsAt: number[];
}

function splitUnescaped(text: string, separators: string): Piece[] {
  const pieces: Piece[] = [];
  let current: Piece = { text: "", equalsAt: [] };
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    if (char === "\\") {
      if (i + 1 >= text.length) fail("distinguished name ends with a lone '\\'");
      current.text += text[++i];
    } else if (separators.includes(char)) {
      pieces.push(current);
      current = { text: "", equalsAt: [] };
    } else {
      if (char === "=") current.equalsAt.push(current.text.length);
      current.text += char;
    }
  }
  pieces.push(current);
  return pieces;
}

function parseAttribute(piece: Piece): DnAttribute {
  if (piece.text.trim() === "") fail("distinguished name has an empty attribute (two separators in a row, or one at an end)");
  const equals = piece.equalsAt[0];
  if (equals === undefined) fail(`'${printable(piece.text.trim())}' has no '=' (expected NAME=value)`);
  const typed = piece.text.slice(0, equals).trim();
  const spec = SPEC_BY_NAME.get(typed.toLowerCase());
  if (!spec) fail(`unknown attribute '${printable(typed)}' (known: ${SPECS.map((s) => s.name).join(", ")})`);
  const value = piece.text.slice(equals! + 1).trim();
  if (value === "") fail(`empty value for ${spec!.name}`);
  if (piece.equalsAt.length > 1) fail(`value of ${spec!.name} holds '=': escape it as '\\='`);
  checkValue(spec!, value);
  return { name: spec!.name, oid: spec!.oid, value };
}

function checkValue(spec: AttributeSpec, value: string): void {
  if (spec.name === "C") {
    if (!/^[A-Za-z]{2}$/.test(value)) fail(`country code '${printable(value)}' is not two letters`);
    return;
  }
  const length = [...value].length;
  if (length > spec.maxLength) fail(`${spec.name} is longer than ${spec.maxLength} characters`);
  if (spec.encoding === "ia5String" && !/^[\x20-\x7e]*$/.test(value)) fail(`${spec.name} must be plain ASCII`);
  // It also goes into the subjectAltName as an rfc822Name, which must be an address.
  if (spec.name === "emailAddress" && !EMAIL.test(value)) fail(`'${value}' is not an e-mail address (name@example.com)`);
}

/** DER tag of each string type. */
const STRING_TAGS: Record<StringEncoding, number> = { utf8String: 0x0c, printableString: 0x13, ia5String: 0x16 };

/** How an attribute's value is written in a certificate: its string type, and C in upper case. */
export function encodedValue(attr: DnAttribute): { encoding: StringEncoding; tag: number; text: string } {
  const spec = SPEC_BY_NAME.get(attr.name.toLowerCase());
  const encoding = spec?.encoding ?? "utf8String";
  return { encoding, tag: STRING_TAGS[encoding], text: spec?.name === "C" ? attr.value.toUpperCase() : attr.value };
}

/** The name in @peculiar/x509's JSON form, each value with its ASN.1 string type. */
export function toJsonName(dn: DistinguishedName): JsonName {
  return dn.map((attr) => {
    const { encoding, text } = encodedValue(attr);
    return { [attr.oid]: [{ [encoding]: text }] };
  }) as unknown as JsonName;
}

const SPEC_BY_OID = new Map(SPECS.map((spec) => [spec.oid, spec]));
/** OpenSSL's names for OIDs depot does not issue (for messages). */
const OTHER_NAMES: Record<string, string> = { "2.5.4.12": "title", "2.5.4.4": "SN", "2.5.4.42": "GN", "2.5.4.43": "initials", "2.5.4.5": "serialNumber" };

/** An attribute read from a name depot did not write, named as depot (or OpenSSL) names its type. */
export function namedAttribute(oid: string, value: string): DnAttribute {
  return { name: SPEC_BY_OID.get(oid)?.name ?? OTHER_NAMES[oid] ?? oid, oid, value };
}

/** A certificate's name as depot's attributes (for names depot did not write, e.g. adopted ones). */
export function dnFromName(name: { toJSON(): JsonName }): DistinguishedName {
  // @peculiar/x509's short names.
  const aliases: Record<string, string> = { E: "1.2.840.113549.1.9.1", CN: "2.5.4.3", L: "2.5.4.7", ST: "2.5.4.8", O: "2.5.4.10", OU: "2.5.4.11", C: "2.5.4.6", DC: "0.9.2342.19200300.100.1.25", T: "2.5.4.12", SN: "2.5.4.4", G: "2.5.4.42", I: "2.5.4.43" };
  const attributes: DistinguishedName = [];
  for (const rdn of name.toJSON()) {
    for (const [type, values] of Object.entries(rdn)) {
      const oid = aliases[type] ?? type;
      for (const value of values as unknown[]) attributes.push(namedAttribute(oid, String(value)));
    }
  }
  return attributes;
}

/** One-line text in the given order, comma-separated with RFC 4514 escapes. */
export function formatDn(dn: DistinguishedName): string {
  return dn.map((attr) => `${attr.name}=${attr.value.replace(/[,+"\\<>;=]/g, "\\$&")}`).join(",");
}
