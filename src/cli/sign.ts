/**
 * @module
 * `depot sign`: a certificate for a request (CSR) whose key never leaves
 * its owner.
 */
import { readFileSync } from "node:fs";
import { MAX_CSR_BYTES } from "../ca/csr.ts";
import { DepotError, ioError } from "../errors.ts";
import { daysOption, stringOption } from "./_args.ts";
import { depotCommand } from "./_command.ts";
import { passphraseArgs } from "./_passphrase.ts";
import type { Profile } from "../ca/profiles.ts";
import { writePublicFile, writeStdout } from "./_output.ts";

const args = {
  path: { type: "positional", description: "The depot's folder", required: true },
  csr: { type: "string", valueHint: "file", required: true, description: "The PEM certificate request (- for standard input), e.g. from openssl req -new" },
  type: { type: "enum", options: ["client", "server"] as Profile[], description: "client (default) or server; a --template gives its own" },
  template: { type: "string", valueHint: "name", description: "Sign under this template of depot.cnf ([ template NAME ]; depot template list shows them)" },
  days: { type: "string", valueHint: "days", description: "Validity in days (default: the depot's, 365)" },
  out: { type: "string", valueHint: "file", description: "Write the certificate to FILE (written whole or not at all) instead of standard output" },
  ...passphraseArgs,
} as const;

export default depotCommand({
  meta: { name: "sign", description: "Sign a certificate request: the private key never leaves its owner. Prints the certificate." },
  args,
  signs: true,
  async run({ args: parsed }, depot) {
    const csrPath = stringOption(parsed, "csr");
    if (csrPath === undefined) throw new DepotError("E_BAD_ARGUMENT", "missing --csr FILE");
    const days = daysOption(parsed, "days");
    const out = stringOption(parsed, "out");
    const pem = readRequest(csrPath);
    const templateName = stringOption(parsed, "template");
    const profile = parsed.type ?? (templateName === undefined ? "client" : depot.templates.get(templateName).base);
    const issued = await depot.signCsr(pem, { profile, ...(templateName ? { template: templateName } : {}), ...(days ? { days } : {}), requester: { requester: "cli" } });
    const recorded = { serial: issued.serial, depotPath: String(parsed.path) };
    // The intermediate after the certificate in a two-tier depot (empty in one tier).
    if (out === undefined) writeStdout(issued.certificatePem + depot.chainPem, recorded);
    else writePublicFile(out, issued.certificatePem + depot.chainPem, recorded);
  },
});

function readRequest(path: string): string {
  try {
    const bytes = readFileSync(path === "-" ? 0 : path);
    if (bytes.length > MAX_CSR_BYTES) throw new DepotError("E_BAD_CSR", `certificate request is larger than ${MAX_CSR_BYTES / 1024} KiB`);
    return bytes.toString("utf8");
  } catch (error) {
    if (error instanceof DepotError) throw error;
    throw ioError("read", path, error);
  }
}
