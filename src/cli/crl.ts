import { depotCommand } from "./_command.ts";
import { parseDays } from "../ca/depot.ts";
import { lastOf } from "./_strict.ts";
import { passphraseArgs } from "./_passphrase.ts";

const args = {
  path: { type: "positional", description: "The depot's folder", required: true },
  "crl-days": { type: "string", description: "Days until nextUpdate (default: the depot's, 7)" },
  ...passphraseArgs,
} as const;

export default depotCommand({
  meta: { name: "crl", description: "Sign a fresh CRL (run it from cron before nextUpdate), write it to crl.pem and print it." },
  args,
  signs: true,
  async run({ args: parsed }, depot) {
    const crlDays = lastOf(parsed["crl-days"]);
    const crl = await depot.publishCrl(crlDays ? parseDays(crlDays) : undefined);
    process.stdout.write(crl.pem);
  },
});
