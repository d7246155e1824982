import { defineCommand } from "citty";
import { readFileSync } from "node:fs";
import { parseDays } from "../ca/depot.ts";
import { MAX_CSR_BYTES } from "../ca/csr.ts";
import { DepotError, ioError } from "../errors.ts";
import { lastOf, rejectUnknownArgs } from "./_strict.ts";
import { openToSign, passphraseArgs } from "./_passphrase.ts";

const args = {
  path: { type: "positional", description: "The depot's folder", required: true },
  csr: { type: "string", description: "The PEM certificate request (- for stdin)" },
  type: { type: "string", description: "client (default) or server" },
  days: { type: "string", description: "Validity in days (default: the depot's, 365)" },
  ...passphraseArgs,
} as const;

export default defineCommand({
  meta: { name: "sign", description: "Sign a certificate request: the private key never leaves its owner. Prints the certificate." },
  args,
  async run({ rawArgs, args: parsed }) {
    rejectUnknownArgs(rawArgs, args);
    const csrPath = lastOf(parsed.csr);
    if (csrPath === undefined) throw new DepotError("E_BAD_ARGUMENT", "missing --csr FILE");
    const type = lastOf(parsed.type) ?? "client";
    if (type !== "client" && type !== "server") throw new DepotError("E_BAD_ARGUMENT", `unknown --type '${type}' (client or server)`);
    const days = lastOf(parsed.days);
    const pem = readRequest(csrPath);
    const depot = await openToSign(parsed.path, parsed);
    try {
      const issued = await depot.signCsr(pem, { profile: type, ...(days ? { days: parseDays(days) } : {}), requester: { requester: "cli" } });
      process.stdout.write(issued.certificatePem + depot.chainPem);
    } finally {
      depot.close();
    }
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
