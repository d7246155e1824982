/**
 * @module
 * `depot show`: one certificate, a readable summary then its PEM.
 */
import { dnFromName, formatDn, printable } from "../ca/dn.ts";
import { x509 } from "../ca/provider.ts";
import { serialToDecimal } from "../ca/serial.ts";
import { depotCommand } from "./_command.ts";
import { statusOf } from "./list.ts";

const args = {
  path: { type: "positional", description: "The depot's folder", required: true },
  serial: { type: "positional", description: "Serial of the certificate (as for revoke)", required: true },
} as const;

export default depotCommand({
  meta: { name: "show", description: "Print one certificate: a readable summary, then its PEM." },
  args,
  async run({ args: parsed }, depot) {
    const record = await depot.findBySerial(parsed.serial);
    const certificate = new x509.X509Certificate(record.pem);
    const san = certificate.getExtension(x509.SubjectAlternativeNameExtension);
    const lines = [
      `Serial:      ${record.serial.toUpperCase()} (decimal ${serialToDecimal(record.serial)})`,
      `Subject:     ${printable(record.subject)}`,
      `Issuer:      ${printable(formatDn(dnFromName(certificate.issuerName)))}`,
      `Type:        ${record.type}`,
      ...(record.template ? [`Template:    ${record.template}`] : []),
      `Key type:    ${record.keyType}`,
      `Not before:  ${record.notBefore.toISOString()}`,
      `Not after:   ${record.notAfter.toISOString()}`,
      `Status:      ${statusOf(record, new Date())}${record.revokedAt ? ` since ${record.revokedAt.toISOString()} (${record.revocationReason})` : ""}`,
      `SHA-256:     ${record.fingerprint.toUpperCase().replace(/(..)(?=.)/g, "$1:")}`,
    ];
    if (san) lines.push(`Names:       ${printable(san.names.items.map((n) => `${n.type.toUpperCase()}:${n.value}`).join(", "))}`);
    process.stdout.write(`${lines.join("\n")}\n${record.pem}`);
  },
});
