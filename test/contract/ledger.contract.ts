/**
 * @module
 * What every `Ledger` promises, as one test body run on each backend
 * (test/contract/ledger.test.ts): recording and finding, the serial's
 * uniqueness, revocation and its errors, the CRL's numbers and guard, the
 * publication lease, and listing in order of issue, in pages, without PEMs
 * from `each`. A backend that disagrees with another fails here.
 */
import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { issueEntry } from "../../src/ca/audit.ts";
import type { CertificateRecord, Ledger } from "../../src/ca/ledger.ts";
import { SerialCollisionError } from "../../src/ca/ledger.ts";
import { hashToken, newToken } from "../../src/ca/tokens.ts";
import { DepotError } from "../../src/errors.ts";
import { freshLedgers, SETUP_TIMEOUT } from "./backends.ts";

const DAY = 86_400_000;
const T0 = Date.parse("2030-01-01T00:00:00.000Z");

/** A certificate record with made-up but well-formed fields; `at` is its notBefore, in days after T0. */
export function certificate(serial: string, at: number, options: Partial<CertificateRecord> = {}): CertificateRecord {
  return {
    serial,
    subject: `/CN=${serial}`,
    type: "client",
    keyType: "ec-p256",
    notBefore: new Date(T0 + at * DAY),
    notAfter: new Date(T0 + (at + 365) * DAY),
    fingerprint: randomBytes(32).toString("hex"),
    pem: `-----BEGIN CERTIFICATE-----\n${serial}\n-----END CERTIFICATE-----\n`,
    status: "valid",
    ...options,
  };
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (error) {
    return error instanceof DepotError ? error.code : (error as Error).name;
  }
  return undefined;
}

export function ledgerContract(name: string, open: () => Promise<Ledger>): void {
  describe(`Ledger contract: ${name}`, () => {
    const fresh = freshLedgers(open);
    /** A CA row and five leaves issued a day apart, two of them on the same day (the serial breaks the tie). */
    const filled = async () => {
      const ledger = await fresh();
      await ledger.record(certificate("c0", 0, { type: "ca", subject: "/CN=CA" }));
      for (const [serial, at] of [["a1", 1], ["a3", 2], ["a2", 2], ["a4", 3], ["a5", 4]] as const) await ledger.record(certificate(serial, at));
      return ledger;
    };
    const ORDER = ["c0", "a1", "a2", "a3", "a4", "a5"];

    test("a recorded certificate is found whole; an unknown serial is not", async () => {
      const ledger = await fresh();
      expect(await ledger.isEmpty()).toBe(true);
      const record = certificate("0abc", 1);
      await ledger.record(record);
      expect(await ledger.find("0abc")).toEqual(record);
      expect(await ledger.find("0abd")).toBeUndefined();
      expect(await ledger.isEmpty()).toBe(false);
      expect(await ledger.count()).toBe(1);
    }, SETUP_TIMEOUT);

    test("a serial recorded twice is a SerialCollisionError and leaves the first as it was", async () => {
      const ledger = await fresh();
      const first = certificate("dup", 1);
      await ledger.record(first);
      const error = await ledger.record(certificate("dup", 2)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SerialCollisionError);
      expect(await ledger.find("dup")).toEqual(first);
      expect(await ledger.count()).toBe(1);
    }, SETUP_TIMEOUT);

    test("list gives whole records in order of issue (notBefore, then serial)", async () => {
      const ledger = await filled();
      const records = await ledger.list();
      expect(records.map((r) => r.serial)).toEqual(ORDER);
      expect(records.every((r) => r.pem.includes("BEGIN CERTIFICATE"))).toBe(true);
    }, SETUP_TIMEOUT);

    test("each gives summaries without their PEMs, in the same order", async () => {
      const ledger = await filled();
      const summaries = await collect(ledger.each());
      expect(summaries.map((r) => r.serial)).toEqual(ORDER);
      for (const summary of summaries) expect("pem" in summary).toBe(false);
      const { pem: _, ...expected } = (await ledger.find("a3"))!;
      expect(summaries.find((s) => s.serial === "a3")).toEqual(expected);
    }, SETUP_TIMEOUT);

    test("each honours the page cursor (after) and the page size (limit)", async () => {
      const ledger = await filled();
      const first = await collect(ledger.each({ limit: 2 }));
      expect(first.map((r) => r.serial)).toEqual(["c0", "a1"]);
      const last = first[first.length - 1]!;
      const second = await collect(ledger.each({ limit: 2, after: { notBefore: last.notBefore, serial: last.serial } }));
      expect(second.map((r) => r.serial)).toEqual(["a2", "a3"]);
      // Within one notBefore, the serial decides: after a2 comes a3, same day.
      const a2 = second[0]!;
      expect((await collect(ledger.each({ after: { notBefore: a2.notBefore, serial: a2.serial } }))).map((r) => r.serial)).toEqual(["a3", "a4", "a5"]);
      expect(await collect(ledger.each({ limit: 0 }))).toEqual([]);
      const end = await collect(ledger.each({ after: { notBefore: new Date(T0 + 4 * DAY), serial: "a5" } }));
      expect(end).toEqual([]);
    }, SETUP_TIMEOUT);

    test("a listing longer than a backend's internal page keeps its order and its limit", async () => {
      const ledger = await fresh();
      const records = Array.from({ length: 1_005 }, (_, i) => certificate(`s${String(i).padStart(5, "0")}`, Math.floor(i / 3)));
      await ledger.adopt(records);
      const all = await collect(ledger.each());
      expect(all.map((r) => r.serial)).toEqual(records.map((r) => r.serial));
      expect((await collect(ledger.each({ limit: 1_003 }))).length).toBe(1_003);
      const cursor = all[1]!;
      expect((await collect(ledger.each({ after: { notBefore: cursor.notBefore, serial: cursor.serial }, limit: 1_002 }))).map((r) => r.serial)).toEqual(records.slice(2, 1_004).map((r) => r.serial));
    }, SETUP_TIMEOUT);

    test("list honours after and limit as each does", async () => {
      const ledger = await filled();
      const a1 = (await ledger.find("a1"))!;
      expect((await ledger.list({ after: { notBefore: a1.notBefore, serial: "a1" }, limit: 3 })).map((r) => r.serial)).toEqual(["a2", "a3", "a4"]);
    }, SETUP_TIMEOUT);

    test("a listing selects by status and leaves out the CA's row when asked", async () => {
      const ledger = await filled();
      await ledger.record(certificate("old", 5, { notBefore: new Date(T0 - 400 * DAY), notAfter: new Date(T0 - 35 * DAY) }));
      await ledger.revoke("a2", "keyCompromise", new Date(T0 + 10 * DAY));
      const now = new Date(T0 + 10 * DAY);
      const serials = async (query: Parameters<Ledger["list"]>[0]) => (await collect(ledger.each(query))).map((r) => r.serial);
      expect(await serials({ includeCa: false })).toEqual(["old", "a1", "a2", "a3", "a4", "a5"]);
      expect(await serials({ status: "revoked", now })).toEqual(["a2"]);
      expect(await serials({ status: "expired", now })).toEqual(["old"]);
      expect(await serials({ status: "valid", now, includeCa: false })).toEqual(["a1", "a3", "a4", "a5"]);
      expect((await ledger.list({ status: "valid", now, includeCa: false, limit: 2 })).map((r) => r.serial)).toEqual(["a1", "a3"]);
    }, SETUP_TIMEOUT);

    test("revoke marks the record, counts the revocation, and refuses unknown, CA and revoked serials", async () => {
      const ledger = await filled();
      const at = new Date(T0 + 5 * DAY);
      const before = await ledger.crlState();
      const revoked = await ledger.revoke("a1", "superseded", at);
      expect(revoked.serial).toBe("a1");
      expect(await ledger.find("a1")).toMatchObject({ status: "revoked", revokedAt: at, revocationReason: "superseded" });
      expect((await ledger.crlState()).revocations).toBe(before.revocations + 1);
      expect(await codeOf(ledger.revoke("ffff", "unspecified", at))).toBe("E_NOT_FOUND");
      expect(await codeOf(ledger.revoke("c0", "unspecified", at))).toBe("E_BAD_ARGUMENT");
      expect(await codeOf(ledger.revoke("a1", "unspecified", at))).toBe("E_ALREADY_REVOKED");
      expect((await ledger.crlState()).revocations).toBe(before.revocations + 1);
    }, SETUP_TIMEOUT);

    test("revoke appends its audit record in the same transaction", async () => {
      const ledger = await filled();
      const seq = await ledger.audit.lastSeq();
      await ledger.revoke("a4", "cessationOfOperation", new Date(T0 + 5 * DAY), { requester: "cli" });
      const [record] = await ledger.audit.after(seq, 10);
      expect(record).toMatchObject({ event: "revoke", serial: "a4", reason: "cessationOfOperation", requester: "cli" });
    }, SETUP_TIMEOUT);

    test("the template a certificate was issued under is kept, listed and copied by adopt; its audit record names it; a built-in's row has none", async () => {
      const ledger = await fresh();
      const vpn = certificate("t1", 1, { type: "server", template: "vpn-server" });
      const seq = await ledger.audit.lastSeq();
      await ledger.record(vpn, issueEntry(vpn, ["gw.vpn.example.com"], { requester: "cli" }));
      await ledger.record(certificate("t2", 2));
      expect(await ledger.find("t1")).toEqual(vpn);
      expect(await ledger.find("t2")).not.toHaveProperty("template");
      expect((await collect(ledger.each())).map((r) => [r.serial, r.template])).toEqual([["t1", "vpn-server"], ["t2", undefined]]);
      expect((await ledger.list()).map((r) => r.template)).toEqual(["vpn-server", undefined]);
      const [record] = await ledger.audit.after(seq, 10);
      expect(record).toMatchObject({ event: "issue", serial: "t1", profile: "server", template: "vpn-server" });
      expect((await ledger.audit.verify()).ok).toBe(true);
      // What ledger migrate copies keeps it.
      expect(await ledger.adopt([certificate("t3", 3, { template: "vpn-client" })])).toBe(1);
      expect((await ledger.find("t3"))?.template).toBe("vpn-client");
    }, SETUP_TIMEOUT);

    test("a record conditioned on its token goes in while the token is unrevoked; once revoked, nothing does (no row, no audit record), even under a reused name", async () => {
      const ledger = await fresh();
      const secret = (name: string) => ({ name, hash: hashToken(newToken()) });
      const first = secret("deploy");
      const made = (name: string) => ({ event: "token-create" as const, requester: "cli", token: name });
      await ledger.tokens.create({ ...first, policy: { admin: false, allow: [] }, createdAt: new Date(T0) }, made("deploy"));
      const allowed = certificate("k1", 1);
      await ledger.record(allowed, issueEntry(allowed, [], { requester: "token:deploy" }), { condition: { tokenUnrevoked: first } });
      expect(await ledger.find("k1")).toEqual(allowed);

      await ledger.tokens.revoke("deploy", new Date(T0 + 1), { event: "token-revoke", requester: "cli", token: "deploy" });
      // A new token under the old name must not lend the old one its standing.
      const second = secret("deploy");
      await ledger.tokens.create({ ...second, policy: { admin: false, allow: [] }, createdAt: new Date(T0 + 2) }, made("deploy"));
      const seq = await ledger.audit.lastSeq();
      const refused = certificate("k2", 2);
      const error = await ledger.record(refused, issueEntry(refused, [], { requester: "token:deploy" }), { condition: { tokenUnrevoked: first } }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DepotError);
      expect((error as DepotError).code).toBe("E_REVOKED_TOKEN");
      expect((error as DepotError).message).toBe("token 'deploy' was revoked (or is no longer known); nothing was issued");
      // Without its audit record too, and with no token at all.
      expect(await codeOf(ledger.record(certificate("k3", 3), undefined, { condition: { tokenUnrevoked: secret("nobody") } }))).toBe("E_REVOKED_TOKEN");
      expect(await ledger.find("k2")).toBeUndefined();
      expect(await ledger.find("k3")).toBeUndefined();
      expect(await ledger.audit.lastSeq()).toBe(seq);
      // The new token's own issuance goes in, and the chain still verifies.
      const later = certificate("k4", 4);
      await ledger.record(later, issueEntry(later, [], { requester: "token:deploy" }), { condition: { tokenUnrevoked: second } });
      expect((await ledger.list()).map((r) => r.serial)).toEqual(["k1", "k4"]);
      expect((await ledger.audit.after(seq, 10)).map((r) => r.serial)).toEqual(["k4"]);
      expect((await ledger.audit.verify()).ok).toBe(true);
    }, SETUP_TIMEOUT);

    test("claimCrl takes growing numbers and lists what is revoked and unexpired", async () => {
      const ledger = await filled();
      await ledger.revoke("a3", "keyCompromise", new Date(T0 + 5 * DAY));
      const first = await ledger.claimCrl(new Date(T0 + 6 * DAY));
      const second = await ledger.claimCrl(new Date(T0 + 6 * DAY));
      expect(second.crlNumber).toBe(first.crlNumber + 1);
      expect(first.revoked).toEqual([{ serial: "a3", revokedAt: new Date(T0 + 5 * DAY), reason: "keyCompromise" }]);
      expect(first.revocations).toBe(1);
      // Expired revoked certificates leave the CRL.
      expect((await ledger.claimCrl(new Date(T0 + 800 * DAY))).revoked).toEqual([]);
    }, SETUP_TIMEOUT);

    test("publishIfNewest publishes a claim once, and never one older than the last published", async () => {
      const ledger = await filled();
      const older = await ledger.claimCrl(new Date(T0));
      const newer = await ledger.claimCrl(new Date(T0));
      const validity = { thisUpdate: new Date(T0), nextUpdate: new Date(T0 + 7 * DAY) };
      const published: number[] = [];
      expect(await ledger.publishIfNewest(newer, validity, () => published.push(newer.crlNumber))).toBe(true);
      expect(await ledger.publishIfNewest(older, validity, () => published.push(older.crlNumber))).toBe(false);
      expect(await ledger.publishIfNewest(newer, validity, () => published.push(newer.crlNumber))).toBe(false);
      expect(published).toEqual([newer.crlNumber]);
      const state = await ledger.crlState();
      expect(state.published).toEqual({ crlNumber: newer.crlNumber, revocations: newer.revocations, ...validity });
    }, SETUP_TIMEOUT);

    test("the publication lease has one holder until it expires or is released", async () => {
      const ledger = await fresh();
      const now = new Date(T0);
      const until = new Date(T0 + 60_000);
      expect(await ledger.leaseCrlPublication(1, now, until)).toBe(true);
      expect(await ledger.leaseCrlPublication(2, now, until)).toBe(false);
      expect(await ledger.leaseCrlPublication(1, now, until)).toBe(true);
      expect(await ledger.leaseCrlPublication(2, new Date(T0 + 60_001), new Date(T0 + 120_000))).toBe(true);
      await ledger.releaseCrlPublication(2);
      expect(await ledger.leaseCrlPublication(3, new Date(T0 + 60_002), new Date(T0 + 120_000))).toBe(true);
    }, SETUP_TIMEOUT);

    test("restoreRevocations revokes what it finds, keeps the rest CRL-only, and numbers never go back", async () => {
      const ledger = await filled();
      const at = new Date(T0 + 3 * DAY);
      const restored = await ledger.restoreRevocations(41, [
        { serial: "a1", revokedAt: at, reason: "keyCompromise" },
        { serial: "gone", revokedAt: at, reason: "superseded" },
      ]);
      expect(restored).toEqual({ revoked: 1, crlOnly: 1 });
      expect(await ledger.find("a1")).toMatchObject({ status: "revoked", revokedAt: at, revocationReason: "keyCompromise" });
      const claim = await ledger.claimCrl(new Date(T0 + 4 * DAY));
      expect(claim.crlNumber).toBeGreaterThan(41);
      expect(claim.revoked.map((e) => e.serial).sort()).toEqual(["a1", "gone"]);
    }, SETUP_TIMEOUT);

    test("adopt keeps existing serials and says how many were new", async () => {
      const ledger = await filled();
      const a1 = (await ledger.find("a1"))!;
      expect(await ledger.adopt([{ ...a1, subject: "/CN=changed" }, certificate("b1", 9)])).toBe(1);
      expect((await ledger.find("a1"))!.subject).toBe("/CN=a1");
      expect(await ledger.hasAdopted()).toBe(true);
      expect(await ledger.count()).toBe(7);
    }, SETUP_TIMEOUT);

    test("changeVersion moves after a write, within the half second an OCSP cache may trust it", async () => {
      const ledger = await filled();
      const before = ledger.changeVersion();
      await Bun.sleep(10);
      await ledger.revoke("a5", "superseded", new Date(T0 + 5 * DAY));
      const began = performance.now();
      while (ledger.changeVersion() === before && performance.now() - began < 600) await Bun.sleep(5);
      expect(ledger.changeVersion()).not.toBe(before);
    }, SETUP_TIMEOUT);

    test("acme is the ledger's own ACME store, there to use without opening anything", async () => {
      const ledger = await fresh();
      expect(await ledger.acme.useNonce("n", { issuedAt: T0, now: T0, forgetBefore: T0 - DAY })).toBe(true);
      expect(await ledger.acme.useNonce("n", { issuedAt: T0, now: T0, forgetBefore: T0 - DAY })).toBe(false);
    }, SETUP_TIMEOUT);

    test("leafSerials names every certificate this host recorded but the CA's", async () => {
      const ledger = await filled();
      expect((await ledger.leafSerials()).sort()).toEqual(["a1", "a2", "a3", "a4", "a5"]);
    }, SETUP_TIMEOUT);
  });
}
