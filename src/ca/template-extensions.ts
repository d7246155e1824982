/**
 * @module
 * A template's extensions in DER, by hand as profiles.ts writes the
 * built-ins': basicConstraints CA:FALSE and keyUsage (both critical),
 * extendedKeyUsage, the template's own extensions as given, then the
 * subjectAltName. The fixed part is built once per template and key family.
 * The built-ins go through profiles.ts untouched, so their certificates
 * stay byte for byte what they were.
 *
 * keyUsage follows the key, as the built-ins' does: a usage the key's
 * algorithm cannot perform is left out (RSA signs and enciphers, RFC 3279;
 * EC signs and agrees keys, RFC 5480; Ed25519 only signs, RFC 8410). A
 * template whose usages the key can do none of is refused for that key.
 */
import { DepotError } from "../errors.ts";
import { oid, TAG, tlv } from "./der.ts";
import type { KeyFamily } from "./key-types.ts";
import { leafExtensions, type Profile, type SubjectAltName, subjectAltNameExtension } from "./profiles.ts";
import { KEY_USAGE_BITS, type KeyUsageName, PURPOSES, type Template } from "./templates.ts";

/** What each key family can do (a usage outside it would be a lie the peer may act on). */
const FAMILY_USAGES: Record<KeyFamily, readonly KeyUsageName[]> = {
  rsa: ["digitalSignature", "nonRepudiation", "keyEncipherment", "dataEncipherment"],
  ec: ["digitalSignature", "nonRepudiation", "keyAgreement", "encipherOnly", "decipherOnly"],
  ed25519: ["digitalSignature", "nonRepudiation"],
};

/** The built-in profiles' usages by name (profiles.ts encodes them; test/templates.test.ts checks the two agree). */
function baseKeyUsage(base: Profile, family: KeyFamily): KeyUsageName[] {
  if (family !== "rsa") return ["digitalSignature"];
  return base === "client" ? ["digitalSignature", "nonRepudiation", "keyEncipherment"] : ["digitalSignature", "keyEncipherment"];
}
const BASE_PURPOSES: Record<Profile, string[]> = { client: ["clientAuth"], server: ["serverAuth", "clientAuth"] };

/** The keyUsage a key of `family` gets under `template`: the template's (or its base's), without what the key cannot do. */
export function effectiveKeyUsage(template: Template, family: KeyFamily): KeyUsageName[] {
  if (template.builtIn || !template.keyUsage) return baseKeyUsage(template.base, family);
  return template.keyUsage.filter((usage) => FAMILY_USAGES[family].includes(usage));
}

/** The template's extendedKeyUsage: names of PURPOSES and dotted OIDs. */
export function effectivePurposes(template: Template): string[] {
  return template.extendedKeyUsage ?? BASE_PURPOSES[template.base];
}

const FIXED = new WeakMap<Template, Map<KeyFamily, Uint8Array[]>>();

/** The DER extensions of a leaf under `template` (SKI and AKI are added by the encoder; AIA and CDP by the depot). */
export function templateExtensions(template: Template, family: KeyFamily, names: SubjectAltName[]): Uint8Array[] {
  if (template.builtIn) return leafExtensions(template.base, family, names);
  let byFamily = FIXED.get(template);
  if (!byFamily) FIXED.set(template, (byFamily = new Map()));
  let fixed = byFamily.get(family);
  if (!fixed) byFamily.set(family, (fixed = fixedExtensions(template, family)));
  return names.length > 0 ? [...fixed, subjectAltNameExtension(names)] : fixed;
}

const CRITICAL = tlv(TAG.BOOLEAN, new Uint8Array([0xff]));

function fixedExtensions(template: Template, family: KeyFamily): Uint8Array[] {
  const usages = effectiveKeyUsage(template, family);
  if (usages.length === 0) {
    throw new DepotError(
      "E_BAD_ARGUMENT",
      `template '${template.name}' gives key usages (${template.keyUsage!.join(", ")}) that an ${family === "ed25519" ? "Ed25519" : family.toUpperCase()} key cannot perform; use another key type`,
    );
  }
  const purposes = effectivePurposes(template).map((purpose) => oid(PURPOSES[purpose] ?? purpose));
  return [
    tlv(TAG.SEQUENCE, oid("2.5.29.19"), CRITICAL, tlv(TAG.OCTET_STRING, tlv(TAG.SEQUENCE))),
    tlv(TAG.SEQUENCE, oid("2.5.29.15"), CRITICAL, tlv(TAG.OCTET_STRING, keyUsageBits(usages))),
    tlv(TAG.SEQUENCE, oid("2.5.29.37"), tlv(TAG.OCTET_STRING, tlv(TAG.SEQUENCE, ...purposes))),
    ...template.extensions.map((extension) =>
      tlv(TAG.SEQUENCE, oid(extension.oid), ...(extension.critical ? [CRITICAL] : []), tlv(TAG.OCTET_STRING, extension.value)),
    ),
  ];
}

/** keyUsage as a DER BIT STRING: as many bytes as the highest bit needs, trailing zero bits left out and counted as unused (X.690 11.2.2). */
export function keyUsageBits(usages: KeyUsageName[]): Uint8Array {
  const bits = usages.map((usage) => KEY_USAGE_BITS[usage]);
  const bytes = new Uint8Array(Math.floor(Math.max(...bits) / 8) + 1);
  for (const bit of bits) bytes[bit >> 3]! |= 0x80 >> (bit & 7);
  const last = bytes[bytes.length - 1]!;
  let unused = 0;
  while (unused < 8 && !(last & (1 << unused))) unused++;
  return tlv(TAG.BIT_STRING, new Uint8Array([unused, ...bytes]));
}
