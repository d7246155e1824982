import { defineCommand } from "citty";
import { Depot, parseDays } from "../ca/depot.ts";
import { lastOf, rejectUnknownArgs } from "./_strict.ts";

const args = {
  path: { type: "positional", description: "The depot's folder", required: true },
  "crl-days": { type: "string", description: "Days until nextUpdate (default: the depot's, 7)" },
} as const;

export default defineCommand({
  meta: { name: "crl", description: "Sign a fresh CRL (run it from cron before nextUpdate), write it to crl.pem and print it." },
  args,
  async run({ rawArgs, args: parsed }) {
    rejectUnknownArgs(rawArgs, args);
    const crlDays = lastOf(parsed["crl-days"]);
    const depot = await Depot.open(parsed.path);
    try {
      const crl = await depot.publishCrl(crlDays ? parseDays(crlDays) : undefined);
      process.stdout.write(crl.pem);
    } finally {
      depot.close();
    }
  },
});
