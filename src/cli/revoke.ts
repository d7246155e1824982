import { depotCommand } from "./_command.ts";
import { parseReason, type RevocationReason } from "../ca/crl.ts";
import { parseDays } from "../ca/depot.ts";
import { lastOf } from "./_strict.ts";
import { passphraseArgs } from "./_passphrase.ts";

const args = {
  path: { type: "positional", description: "The depot's folder", required: true },
  serial: { type: "positional", description: "Serial of the certificate: hex as openssl prints it (AB:CD or ABCD), 0x-hex, or the decimal of its file name", required: true },
  reason: { type: "string", description: "keyCompromise, superseded, cessationOfOperation, affiliationChanged or unspecified (default)" },
  "crl-days": { type: "string", description: "Days until the new CRL's nextUpdate (default: the depot's, 7)" },
  ...passphraseArgs,
} as const;

export default depotCommand({
  meta: { name: "revoke", description: "Revoke a certificate and rewrite the depot's CRL (crl.pem)." },
  args,
  signs: true,
  check: ({ args: parsed }) => void reasonOf(parsed.reason),
  async run({ args: parsed }, depot) {
    const reason = reasonOf(parsed.reason);
    const crlDays = lastOf(parsed["crl-days"]);
    const { serial } = await depot.findBySerial(parsed.serial);
    const { record, crl } = await depot.revoke(serial, reason, { ...(crlDays ? { crlDays: parseDays(crlDays) } : {}), requester: { requester: "cli" } });
    console.log(`Revoked ${record.serial.toUpperCase()} (${record.subject}), reason ${reason}`);
    console.log(`CRL number ${crl.crlNumber} with ${crl.revokedCount} revoked certificate(s) written to ${depot.layout.crl}`);
  },
});

/** The --reason given, checked (unspecified when none is). */
function reasonOf(text: unknown): RevocationReason {
  const reasonText = lastOf(text);
  return reasonText === undefined ? "unspecified" : parseReason(reasonText);
}
