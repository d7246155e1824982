import { isIP } from "node:net";
import { DepotError } from "../errors.ts";
import type { KeyFamily } from "./key-types.ts";
import { x509 } from "./provider.ts";

/**
 * The certificate profiles, as the original issued them, with SHA-256
 * signatures. Leaf keyUsage follows the key: RSA keys may encipher, EC and
 * Ed25519 keys only sign.
 */
export type Profile = "ca" | "client" | "server";
const { KeyUsageFlags } = x509;

export function caExtensions(): x509.Extension[] {
  return [
    new x509.BasicConstraintsExtension(true, undefined, true),
    new x509.KeyUsagesExtension(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign, true),
  ];
}

export function leafExtensions(profile: "client" | "server", family: KeyFamily, subjectAltNames: SubjectAltName[]): x509.Extension[] {
  const signs = KeyUsageFlags.digitalSignature;
  const usage =
    profile === "client"
      ? family === "rsa"
        ? signs | KeyUsageFlags.nonRepudiation | KeyUsageFlags.keyEncipherment
        : signs
      : family === "rsa"
        ? signs | KeyUsageFlags.keyEncipherment
        : signs;
  const purposes =
    profile === "client"
      ? [x509.ExtendedKeyUsage.clientAuth]
      : [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth];
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(usage, true),
    new x509.ExtendedKeyUsageExtension(purposes, false),
  ];
  if (profile === "server") {
    extensions.push(new x509.SubjectAlternativeNameExtension(subjectAltNames.map((name) => ({ type: name.type, value: name.value })), false));
  }
  return extensions;
}

export interface SubjectAltName {
  type: "dns" | "ip";
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
