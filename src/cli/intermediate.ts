/**
 * @module `depot intermediate renew PATH --root-key FILE`: re-issue a
 * two-tier depot's intermediate (same key, fresh validity) with the root key.
 */
import { defineCommand } from "citty";
import { command } from "./_command.ts";
import { parseDays } from "../ca/depot.ts";
import { DEFAULT_INTERMEDIATE_DAYS, tierLayout } from "../ca/hierarchy.ts";
import { renewIntermediate } from "../ca/root-ca.ts";
import { passphraseArgs } from "./_passphrase.ts";
import { lastOf } from "./_strict.ts";
import { rootFromArgs, twoTierLayout } from "./root.ts";

const args = {
  path: { type: "positional", description: "The depot's folder (made with init --intermediate)", required: true },
  "root-key": { type: "string", description: "The root key file (default: the depot's private/root.key, while it is there)" },
  days: { type: "string", description: `Validity of the new intermediate certificate, in days (${DEFAULT_INTERMEDIATE_DAYS}, never beyond the root)` },
  ...passphraseArgs,
} as const;

const renew = command({
  meta: { name: "renew", description: "Re-issue the intermediate certificate for its same key, signed by the root; a running server takes it at its next HUP." },
  args,
  async run({ args: parsed }) {
    const layout = twoTierLayout(parsed.path);
    const days = lastOf(parsed.days);
    const certificate = await renewIntermediate(layout, await rootFromArgs(layout, parsed), days ? parseDays(days) : undefined);
    console.log(`Intermediate renewed until ${certificate.notAfter.toISOString().slice(0, 10)}: ${tierLayout(layout).intermediateCertificate}`);
  },
});

export default defineCommand({
  meta: { name: "intermediate", description: "The intermediate of a two-tier depot: depot intermediate renew PATH --root-key FILE." },
  subCommands: { renew },
});
