import { isIP } from "node:net";
import { DepotError } from "../errors.ts";
import type { DistinguishedName } from "./dn.ts";
import type { KeyFamily } from "./key-types.ts";
import { oid, TAG, tlv } from "./der.ts";

/**
 * The certificate profiles, as the original issued them, with SHA-256
 * signatures. Leaf keyUsage follows the key: RSA keys may encipher, EC and
 * Ed25519 keys only sign.
 */
export type Profile = "client" | "server";

/**
 * The DER extensions of a leaf (SKI and AKI are added by the encoder). The
 * fixed ones are built once per profile and key family.
 */
export function leafExtensions(profile: Profile, family: KeyFamily, subjectAltNames: SubjectAltName[]): Uint8Array[] {
  const key = `${profile}/${family}`;
  let fixed = FIXED_EXTENSIONS.get(key);
  if (!fixed) FIXED_EXTENSIONS.set(key, (fixed = fixedExtensions(profile, family)));
  return subjectAltNames.length > 0 ? [...fixed, subjectAltNameExtension(subjectAltNames)] : fixed;
}

/**
 * A leaf's subjectAltName entries: a server's host names (see serverNames),
 * then every emailAddress of the subject as an rfc822Name (RFC 5280
 * 4.2.1.6), which is where TLS software looks for a client's address.
 */
export function leafNames(profile: Profile, subject: DistinguishedName, sans: string[]): SubjectAltName[] {
  const commonName = subject.find((attr) => attr.name === "CN")?.value;
  const hosts = profile === "server" ? serverNames(commonName, sans) : [];
  const emails = subject.filter((attr) => attr.name === "emailAddress").map((attr): SubjectAltName => ({ type: "email", value: attr.value }));
  return [...hosts, ...emails];
}

const FIXED_EXTENSIONS = new Map<string, Uint8Array[]>();

/**
 * basicConstraints CA:FALSE and keyUsage (both critical), extendedKeyUsage,
 * encoded as @peculiar/x509 encoded them (test/profiles.test.ts compares):
 * that library costs each process that loads it about 6 MB.
 */
function fixedExtensions(profile: Profile, family: KeyFamily): Uint8Array[] {
  const usage =
    profile === "client"
      ? family === "rsa"
        ? KEY_USAGE.digitalSignature | KEY_USAGE.nonRepudiation | KEY_USAGE.keyEncipherment
        : KEY_USAGE.digitalSignature
      : family === "rsa"
        ? KEY_USAGE.digitalSignature | KEY_USAGE.keyEncipherment
        : KEY_USAGE.digitalSignature;
  const purposes = profile === "client" ? [EKU.clientAuth] : [EKU.serverAuth, EKU.clientAuth];
  const critical = tlv(TAG.BOOLEAN, new Uint8Array([0xff]));
  return [
    tlv(TAG.SEQUENCE, oid("2.5.29.19"), critical, tlv(TAG.OCTET_STRING, tlv(TAG.SEQUENCE))),
    tlv(TAG.SEQUENCE, oid("2.5.29.15"), critical, tlv(TAG.OCTET_STRING, keyUsageBits(usage))),
    tlv(TAG.SEQUENCE, oid("2.5.29.37"), tlv(TAG.OCTET_STRING, tlv(TAG.SEQUENCE, ...purposes.map((purpose) => oid(purpose))))),
  ];
}

/** keyUsage bits as RFC 5280 numbers them (bit 0 is the first, most significant, bit). */
const KEY_USAGE = { digitalSignature: 1 << 0, nonRepudiation: 1 << 1, keyEncipherment: 1 << 2 } as const;
const EKU = { serverAuth: "1.3.6.1.5.5.7.3.1", clientAuth: "1.3.6.1.5.5.7.3.2" } as const;

/** A keyUsage BIT STRING in DER: the named bits, trailing zero bits left out and counted as unused. */
function keyUsageBits(usage: number): Uint8Array {
  let byte = 0;
  for (let bit = 0; bit < 8; bit++) if (usage & (1 << bit)) byte |= 0x80 >> bit;
  let unused = 0;
  while (unused < 8 && !(byte & (1 << unused))) unused++;
  return tlv(TAG.BIT_STRING, new Uint8Array([unused, byte]));
}

/** subjectAltName (RFC 5280 4.2.1.6): rfc822Name [1] and dNSName [2] IA5String, iPAddress [7] OCTET STRING. */
export function subjectAltNameExtension(names: SubjectAltName[]): Uint8Array {
  const generalNames = names.map((name) =>
    name.type === "ip" ? tlv(0x87, ipBytes(name.value)) : tlv(name.type === "dns" ? 0x82 : 0x81, new TextEncoder().encode(name.value)),
  );
  return tlv(TAG.SEQUENCE, SAN_OID, tlv(TAG.OCTET_STRING, tlv(TAG.SEQUENCE, ...generalNames)));
}
const SAN_OID = oid("2.5.29.17");

/** An IPv4 or IPv6 address (already checked by isIP) as its 4 or 16 bytes. */
export function ipBytes(address: string): Uint8Array {
  if (isIP(address) === 4) return new Uint8Array(address.split(".").map(Number));
  let text = address;
  const embedded = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (embedded) {
    const [a = 0, b = 0, c = 0, d = 0] = embedded[1]!.split(".").map(Number);
    text = `${text.slice(0, embedded.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = "", tail] = text.split("::");
  const groups = (part: string) => (part === "" ? [] : part.split(":").map((g) => parseInt(g, 16)));
  const before = groups(head);
  const after = tail === undefined ? [] : groups(tail);
  const all = [...before, ...new Array(8 - before.length - after.length).fill(0), ...after];
  return new Uint8Array(all.flatMap((g) => [g >> 8, g & 0xff]));
}

export interface SubjectAltName {
  type: "dns" | "ip" | "email";
  value: string;
}

const DNS_NAME = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;

/** Reads `--san` values: a DNS name or an IP address, optionally prefixed `DNS:` or `IP:`. */
export function parseSubjectAltName(text: string): SubjectAltName {
  const trimmed = text.trim();
  const prefixed = /^(dns|ip):(.*)$/i.exec(trimmed);
  const value = prefixed ? prefixed[2]!.trim() : trimmed;
  const wants = prefixed?.[1]!.toLowerCase();
  if (wants !== "dns" && isIP(value)) return { type: "ip", value };
  if (wants !== "ip" && value.length <= 253 && DNS_NAME.test(value)) return { type: "dns", value: value.toLowerCase() };
  throw new DepotError("E_BAD_ARGUMENT", `'${text}' is not a DNS name or an IP address`);
}

/**
 * A server certificate's names: the CN when it is a DNS name or an IP address,
 * then every `--san`, without repeats. A server certificate without any name
 * would match no host, so it is refused.
 */
export function serverNames(commonName: string | undefined, sans: string[]): SubjectAltName[] {
  const names: SubjectAltName[] = [];
  const add = (name: SubjectAltName) => {
    if (!names.some((n) => n.type === name.type && n.value === name.value)) names.push(name);
  };
  if (commonName !== undefined) {
    try {
      add(parseSubjectAltName(commonName));
    } catch {
      // A CN like "Bob's server" is not a host name; --san must supply one.
    }
  }
  for (const san of sans) add(parseSubjectAltName(san));
  if (names.length === 0) {
    throw new DepotError(
      "E_BAD_ARGUMENT",
      "a server certificate needs a DNS name or IP address: give it as --cn or --san",
    );
  }
  return names;
}
