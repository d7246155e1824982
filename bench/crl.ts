/**
 * The CRL at scale: `bun bench/crl.ts [--revoked 100000]`.
 *
 * Makes a depot whose ledger holds N revoked certificates (rows inserted
 * directly, bench/fill-ledger.ts), then measures: publishing a CRL of N
 * entries (claim + DER encoding + signature + write), its size, openssl's
 * verdict on it (`openssl crl -verify`), and the latency of a revoke that
 * only records (`publish: false`, what a server does) and of one that
 * publishes (what `depot revoke` does), and a ledger rebuilt from that
 * crl.pem. See docs/performance.md.
 */
import "../src/store/open-ledger.ts"; // installs the ledger factory: Depot.open and createDepot open the ledger depot.cnf names
import { rmSync, statSync } from "node:fs";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Depot } from "../src/ca/depot.ts";
import { parseDn } from "../src/ca/dn.ts";
import { rebuildLedger } from "../src/store/rebuild.ts";
import { makeLargeDepot } from "./fill-ledger.ts";

const { values } = parseArgs({ options: { revoked: { type: "string", default: "100000" }, json: { type: "boolean", default: false } } });
const revokedCount = Number(values.revoked);
const dir = mkdtempSync(join(tmpdir(), "depot-bench-crl-"));
const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;

try {
  const filling = performance.now();
  const root = await makeLargeDepot(join(dir, "ca"), { certificates: revokedCount + 200, revoked: revokedCount });
  const fillMs = performance.now() - filling;
  const depot = await Depot.open(root);
  try {
    const builds: number[] = [];
    let crl = await depot.publishCrl();
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      crl = await depot.publishCrl();
      builds.push(performance.now() - t);
    }
    builds.sort((a, b) => a - b);
    const crlFile = join(root, "crl.pem");
    const verifying = performance.now();
    const verified = Bun.spawnSync(["openssl", "crl", "-in", crlFile, "-noout", "-CAfile", join(root, "certificates", "ca.crt")]);
    const verifyMs = performance.now() - verifying;
    const opensslSays = `${verified.stderr.toString().trim()} (exit ${verified.exitCode})`;

    // Revocations that only record, as a server does: fresh certificates revoked one by one.
    const serials: string[] = [];
    for (let i = 0; i < 100; i++) serials.push((await depot.issue({ profile: "client", subject: parseDn(`CN=to revoke ${i}`) })).serial);
    const recordOnly: number[] = [];
    for (const serial of serials.slice(0, 90)) {
      const t = performance.now();
      await depot.revoke(serial, "keyCompromise", { publish: false });
      recordOnly.push(performance.now() - t);
    }
    recordOnly.sort((a, b) => a - b);
    const refreshing = performance.now();
    const refreshed = await depot.refreshCrl();
    const refreshMs = performance.now() - refreshing;
    const withPublish: number[] = [];
    for (const serial of serials.slice(90)) {
      const t = performance.now();
      await depot.revoke(serial, "keyCompromise");
      withPublish.push(performance.now() - t);
    }
    withPublish.sort((a, b) => a - b);

    // A lost ledger rebuilt from that crl.pem (the bench's rows have no files: every entry comes back CRL-only).
    depot.close();
    for (const suffix of ["", "-wal", "-shm"]) rmSync(join(root, `ledger.sqlite3${suffix}`), { force: true });
    const rebuilding = performance.now();
    const rebuilt = await rebuildLedger(root);
    const rebuildMs = performance.now() - rebuilding;

    const result = {
      revoked: revokedCount,
      fillSeconds: +(fillMs / 1000).toFixed(1),
      crlBuildMs: { min: +builds[0]!.toFixed(0), max: +builds.at(-1)!.toFixed(0) },
      crlEntries: crl.revokedCount,
      crlPemBytes: statSync(crlFile).size,
      crlDerBytes: Buffer.from(crl.pem.replace(/-----[^-]+-----|\s/g, ""), "base64").length,
      opensslVerify: opensslSays,
      opensslVerifyMs: +verifyMs.toFixed(0),
      revokeRecordOnlyMs: { p50: +percentile(recordOnly, 0.5).toFixed(2), p99: +percentile(recordOnly, 0.99).toFixed(2), max: +recordOnly.at(-1)!.toFixed(2) },
      refreshAfter90Ms: +refreshMs.toFixed(0),
      refreshPublishedEntries: refreshed?.revokedCount,
      revokeAndPublishMs: { p50: +percentile(withPublish, 0.5).toFixed(0), max: +withPublish.at(-1)!.toFixed(0) },
      rebuildMs: +rebuildMs.toFixed(0),
      rebuildRestored: rebuilt.revoked + rebuilt.crlOnly,
    };
    if (values.json) console.log(JSON.stringify(result));
    else {
      console.log(`ledger filled with ${revokedCount} revoked certificates in ${result.fillSeconds} s`);
      console.log(`CRL of ${result.crlEntries} entries: built, signed and written in ${result.crlBuildMs.min}-${result.crlBuildMs.max} ms; ${result.crlDerBytes} bytes DER, ${result.crlPemBytes} bytes PEM`);
      console.log(`openssl crl -verify: ${result.opensslVerify} in ${result.opensslVerifyMs} ms`);
      console.log(`revoke, record only (publish: false): p50 ${result.revokeRecordOnlyMs.p50} ms, p99 ${result.revokeRecordOnlyMs.p99} ms, max ${result.revokeRecordOnlyMs.max} ms`);
      console.log(`refreshCrl after 90 such revokes: one CRL of ${result.refreshPublishedEntries} entries in ${result.refreshAfter90Ms} ms`);
      console.log(`revoke and publish (depot revoke): p50 ${result.revokeAndPublishMs.p50} ms, max ${result.revokeAndPublishMs.max} ms`);
      console.log(`ledger rebuild from that crl.pem: ${result.rebuildRestored} revocations restored in ${result.rebuildMs} ms`);
    }
    if (verified.exitCode !== 0) process.exitCode = 1;
  } finally {
    depot.close(); // a second close is harmless
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
