/**
 * @module
 * The upkeep process (`__upkeep`): the one child of the supervisor that
 * does the depot's own work, so the supervisor signs nothing and loads no
 * crypto (nginx's cache manager, beside its workers). At start it checks
 * that the depot can be served (it opens, its CA key is private), then
 * says `ready`; until then no worker is spawned, and its `fatal` reason is
 * why the server does not start. Right after, it restores certificate
 * files a crash lost: a missing file is a gap in the folder's mirror of the
 * ledger, not a lost certificate, and comparing a million serials with the
 * folder takes seconds that start-up need not wait for. Afterwards it polls every `pollMs`
 * (a turn that finds the ledger as it was and nothing due by the clock does
 * no ledger work: upkeep-gate.ts): a CRL that is due is published
 * here, off every event loop that answers clients, one burst of
 * revocations making one CRL. On a `restore` line on its stdin (a worker
 * crashed) it restores the files that worker had deferred. Its stdin is
 * also its lifeline, as a worker's is (both read it with `child-process.ts`).
 */
import { statSync } from "node:fs";
import { crlChangeLogger } from "../ca/crl-change.ts";
import type { Depot } from "../ca/depot.ts";
import { openDepot } from "../store/open-depot.ts";
import { DepotError } from "../errors.ts";
import { fatal, logAbove, readLifeline, send, startHeartbeat } from "./child-process.ts";
import { UPKEEP_ENV, type UpkeepConfig } from "./messages.ts";
import { AuditForwarder } from "../ca/audit-file.ts";
import type { HttpsCertificateKeeper } from "./https-certificate.ts";
import { RepeatFilter } from "./repeat-filter.ts";
import { UpkeepGate } from "./upkeep-gate.ts";
import { refreshKrl } from "../ca/ssh/krl-publisher.ts";
import { hasSshCa } from "../ca/ssh/ssh-ca.ts";

export async function runUpkeep(): Promise<never> {
  const config = JSON.parse(process.env[UPKEEP_ENV] ?? "{}") as UpkeepConfig;
  const log = logAbove(config.logLevel);
  let stopping = false;
  /** Why the next turn restores missing files: at start, or after a worker crash. */
  let restoreWanted: "start" | "crash" | undefined;
  let busy = false;
  let depot: Depot | undefined;
  let httpsKeeper: HttpsCertificateKeeper | undefined;
  let auditForwarder: AuditForwarder | undefined;
  const exit = (): never => {
    depot?.close();
    process.exit(0);
  };
  // Graceful: the job under way finishes (a CRL is written whole or not at all).
  const stop = () => {
    stopping = true;
    if (!busy) exit();
  };
  process.on("SIGQUIT", stop);
  process.on("SIGTERM", exit);
  process.on("SIGINT", exit);
  // An encrypted CA key arrives first on stdin, then orders.
  const decryptedKeyPem = (await readLifeline({
    caKeyOnStdin: config.caKeyOnStdin === true,
    order: (order) => {
      if (order === "restore") restoreWanted = "crash";
    },
    ended: stop,
  }))?.ca;

  // Beats from the start: restoring the files of a large depot takes seconds
  // (it yields to the event loop as it goes), and a silent upkeep process is
  // killed as hung after --timeout, then respawned to start over.
  startHeartbeat(config.heartbeatMs);
  try {
    // A new CRL runs --on-crl-change (or depot.cnf's on_crl_change) here, its outcome logged.
    depot = await openDepot(config.depot, {
      onCrlPublished: crlChangeLogger(() => config.onCrlChange ?? depot?.crlChangeCommand, log),
      ...(decryptedKeyPem !== undefined ? { decryptedKeyPem } : {}),
    });
    if (statSync(depot.layout.caKey).mode & 0o077) {
      throw new DepotError("E_INSECURE_KEY", `refusing to start: ${depot.layout.caKey} is readable by group or others (chmod 400 it)`);
    }
    for (const { flag, name, base } of config.templates ?? []) depot.templates.require(name, flag, base);
    if (config.auditFrom !== undefined) auditForwarder = await AuditForwarder.start(depot.ledger.audit, config.auditFrom);
    if (config.https) {
      // Before the workers start: they load it when they open the HTTPS listener.
      // Loaded only with --https-port: reading certificates' names takes @peculiar/x509.
      const { HttpsCertificateKeeper } = await import("./https-certificate.ts");
      httpsKeeper = new HttpsCertificateKeeper(depot, config.https.names);
      const https = await httpsKeeper.ensure();
      if (https.issued) log("info", `issued the HTTPS certificate ${https.certPath} for ${config.https.names.join(", ")}, valid until ${https.notAfter.toISOString()}`);
    }
  } catch (error) {
    fatal(error, `cannot open the depot ${config.depot}`);
  }
  const opened = depot;
  const failures = new RepeatFilter(60_000);
  const gate = new UpkeepGate();

  const turn = async () => {
    busy = true;
    try {
      const version = opened.ledger.changeVersion();
      const now = Date.now();
      if (restoreWanted || gate.due(version, now)) {
        await ledgerWork();
        gate.worked(version, now);
      }
      const renewed = await httpsKeeper?.renewIfDue();
      if (renewed) send({ t: "roll", reason: `renewed the HTTPS certificate (valid until ${renewed.notAfter.toISOString()})` });
      failures.clear();
    } catch (error) {
      const message = error instanceof DepotError ? error.message : String((error as Error)?.message ?? error);
      const shown = failures.admit(message);
      if (shown !== undefined) log("error", `depot upkeep failed: ${shown}`);
    } finally {
      busy = false;
    }
    if (stopping) exit();
    setTimeout(turn, config.pollMs);
  };

  /** What follows writes to the ledger (see UpkeepGate); a failure leaves the gate open, so the next turn tries again. */
  const ledgerWork = async () => {
    // Workers write certificate files just after their answers; a crash in
    // between leaves a certificate recorded in the ledger without its file.
    if (restoreWanted) {
      const why = restoreWanted;
      restoreWanted = undefined;
      const restored = await opened.restoreMissingFiles();
      if (restored > 0) log("info", `restored ${restored} certificate file(s) from the ledger${why === "crash" ? " after a worker crash" : ""}`);
    }
    // Due when the ledger holds revocations the CRL lacks, or half its validity has passed.
    // The workers leave the ledger's WAL to this process (their commits would wait on its fsync).
    await opened.ledger.checkpoint?.();
    const crl = await opened.refreshCrl();
    if (crl) log("info", `published CRL ${crl.crlNumber} (${crl.revokedCount} revoked)`);
    // The KRL likewise: a revoke over the API only records it.
    if (hasSshCa(opened.layout.root)) {
      const krl = await refreshKrl(opened.layout.root, opened.ledger.ssh);
      if (krl) log("info", `published the SSH KRL, version ${krl.version} (${krl.revoked} revoked)`);
    }
    await auditForwarder?.forward((lines) => send({ t: "audit", lines }));
  };
  await turn();
  send({ t: "ready" });
  restoreWanted ??= "start";
  return new Promise<never>(() => {});
}
