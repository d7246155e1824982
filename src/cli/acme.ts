/**
 * @module `depot acme eab PATH --name NAME [--allow PATTERN]...`: makes an
 * External Account Binding key (RFC 8555 7.3.4) for a server run with
 * `--acme-require-eab`, and prints its key id and HMAC key once. The key
 * binds one ACME account; `--allow` limits the names that account may order
 * (DNS globs, IP CIDRs), on top of the server's `--acme-allow`.
 */

import { defineCommand } from "citty";
import { command, withDepot } from "./_command.ts";
import { createEabKey } from "../acme/index.ts";
import { acmeStoreFor } from "../acme/mount.ts";
import { DepotError } from "../errors.ts";
import { allValues, lastOf } from "./_strict.ts";

const eabArgs = {
  path: { type: "positional", description: "The depot's folder", required: true },
  name: { type: "string", description: "Who the binding is for (kept in the ledger, shown in listings)", required: true },
  allow: { type: "string", description: "A name the bound account may order: DNS glob (*.svc.example.com) or IP CIDR (10.0.0.0/8); repeatable (default: the server's --acme-allow alone)" },
} as const;

const eab = command({
  meta: { name: "eab", description: "Make an ACME external account binding key; prints its key id and HMAC key once." },
  args: eabArgs,
  repeatable: ["allow"],
  async run({ rawArgs, args: parsed }) {
    const name = lastOf(parsed.name)?.trim();
    if (!name) throw new DepotError("E_BAD_ARGUMENT", "--name needs a value (who the binding is for)");
    const allow = allValues(rawArgs, "allow").map((p) => p.trim()).filter(Boolean);
    await withDepot(parsed.path, async (depot) => {
      const store = acmeStoreFor(depot);
      try {
        const key = await createEabKey(store, name, allow);
        const hmac = Buffer.from(key.hmacKey).toString("base64url");
        console.log(`key id:   ${key.kid}`);
        console.log(`HMAC key: ${hmac}`);
        console.log(`for:      ${name}${allow.length ? `, names ${allow.join(", ")}` : ", any name the server allows"}`);
        console.log(`certbot:  --eab-kid ${key.kid} --eab-hmac-key ${hmac}`);
        console.log(`lego:     --eab --kid ${key.kid} --hmac ${hmac}`);
        console.log("The HMAC key is shown only now; it binds one ACME account.");
      } finally {
        store.close();
      }
    });
  },
});

export default defineCommand({
  meta: { name: "acme", description: "ACME server administration: external account binding keys (eab)." },
  subCommands: { eab },
});
