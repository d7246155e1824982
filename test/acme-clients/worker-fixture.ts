/**
 * @module A worker process for the crash test: depot's ACME module on a
 * shared port (SO_REUSEPORT) over a shared depot, as each server worker
 * serves it. Args: DEPOT PORT CERT KEY HTTP01_PORT DNS_PORT. Prints
 * `ready <pid>` once listening; exits when its stdin closes.
 */
import "../../src/store/open-ledger.ts"; // installs the ledger factory: Depot.open and createDepot open the ledger depot.cnf names
import { Depot } from "../../src/ca/depot.ts";
import { createAcmeServer, depotIssuer } from "../../src/acme/index.ts";

const [depotPath, port, cert, key, httpPort, dnsPort] = process.argv.slice(2);
const depot = await Depot.open(depotPath!, { deferFiles: true });
const acme = createAcmeServer({
  store: depot.ledger.acme,
  issuer: depotIssuer(depot),
  validators: { httpPort: Number(httpPort), resolver: `127.0.0.1:${dnsPort}`, timeoutMs: 3000 },
  queue: { retryDelayMs: 200 },
});
Bun.serve({ hostname: "127.0.0.1", port: Number(port), reusePort: true, tls: { cert: Bun.file(cert!), key: Bun.file(key!) }, fetch: (r) => acme.handle(r) });
console.log(`ready ${process.pid}`);
for await (const _ of Bun.stdin.stream()) void _;
process.exit(0);
