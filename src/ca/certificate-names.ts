/**
 * @module
 * A leaf certificate's serial and the host names of its subjectAltName,
 * read with the DER reader: what a renewal needs from the certificate it
 * renews beyond `certificate-der.ts`'s fields, without loading
 * @peculiar/x509 into a server's worker.
 */
import { isIP } from "node:net";
import { children, oidText, readElement, TAG } from "./der.ts";
import { magnitudeHex } from "./serial.ts";

const SUBJECT_ALT_NAME = "2.5.29.17";
/** GeneralName tags (RFC 5280 4.2.1.6): dNSName [2] and iPAddress [7], both primitive. */
const DNS_NAME = 0x82;
const IP_ADDRESS = 0x87;

/** The serial as the ledger keys it: lower-case hex magnitude, no leading zero bytes. Throws on what is not a certificate. */
export function serialOfCertificate(der: Uint8Array): string {
  const [tbs] = children(der, readElement(der));
  const fields = children(der, tbs!);
  const serial = fields[fields[0]?.tag === TAG.CONTEXT_0 ? 1 : 0];
  if (serial?.tag !== TAG.INTEGER) throw new Error("not a certificate: no serial number");
  return magnitudeHex(der.subarray(serial.contentStart, serial.end));
}

/**
 * The DNS names and IP addresses of the subjectAltName, in the order written,
 * as `--san` takes them (e-mail names are left out: depot writes them from
 * the subject's emailAddress). Empty when there is no such extension.
 */
export function hostNamesOfCertificate(der: Uint8Array): string[] {
  const [tbs] = children(der, readElement(der));
  const extensions = children(der, tbs!).find((field) => field.tag === TAG.CONTEXT_3);
  if (!extensions) return [];
  for (const extension of children(der, children(der, extensions)[0]!)) {
    const parts = children(der, extension);
    if (oidText(der.subarray(parts[0]!.contentStart, parts[0]!.end)) !== SUBJECT_ALT_NAME) continue;
    const value = readElement(der, parts.at(-1)!.contentStart);
    const names: string[] = [];
    for (const name of children(der, value)) {
      const content = der.subarray(name.contentStart, name.end);
      if (name.tag === DNS_NAME) names.push(Buffer.from(content).toString("latin1"));
      else if (name.tag === IP_ADDRESS && (content.length === 4 || content.length === 16)) names.push(ipText(content));
    }
    return names;
  }
  return [];
}

/** An address's text: dotted quad, or IPv6 in its canonical short form (the URL parser writes it). */
function ipText(bytes: Uint8Array): string {
  if (bytes.length === 4) return [...bytes].join(".");
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  const text = new URL(`http://[${groups.join(":")}]/`).hostname.slice(1, -1);
  if (isIP(text) !== 6) throw new Error("not an IPv6 address");
  return text;
}
