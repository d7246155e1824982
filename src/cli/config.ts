import { defineCommand } from "citty";
import { Depot } from "../ca/depot.ts";
import { rejectUnknownArgs } from "./_strict.ts";

const args = {
  path: { type: "positional", description: "The depot's folder", required: true },
} as const;

export default defineCommand({
  meta: { name: "config", description: "Print Apache and nginx settings that make a web server require certificates from this depot." },
  args,
  async run({ rawArgs, args: parsed }) {
    rejectUnknownArgs(rawArgs, args);
    const depot = await Depot.open(parsed.path);
    depot.close();
    process.stdout.write(webServerConfig(depot.layout.caCertificate, depot.label));
  },
});

export function webServerConfig(caCertificate: string, label: string): string {
  return `# Apache (mod_ssl): accept only clients holding a certificate from ${label}
SSLVerifyClient require
SSLVerifyDepth 1
SSLCACertificateFile ${caCertificate}

# nginx (server block): the same
ssl_client_certificate ${caCertificate};
ssl_verify_client on;
ssl_verify_depth 1;
`;
}
