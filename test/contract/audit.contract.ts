/**
 * @module
 * What every `AuditLog` promises (a ledger's `audit`), as one test body run
 * on each backend (test/contract/audit.test.ts): one chain whose records
 * hash the same on every backend, read back in pages, verified whole, and
 * not forked by appends made at once.
 */
import { describe, expect, test } from "bun:test";
import { type AuditEntry, canonicalBody, chainHash, denyEntry, GENESIS, issueEntry } from "../../src/ca/audit.ts";
import type { Ledger } from "../../src/ca/ledger.ts";
import { freshLedgers, SETUP_TIMEOUT } from "./backends.ts";

const AT = new Date("2030-01-01T00:00:00.000Z");

const entry = (n: number): AuditEntry => ({ event: "issue", requester: "line", client: "127.0.0.1", serial: `s${n}`, subject: `/CN=${n}`, sans: [`h${n}.test`], profile: "server", keyType: "ec-p256" });

export function auditLogContract(name: string, open: () => Promise<Ledger>): void {
  describe(`AuditLog contract: ${name}`, () => {
    const fresh = freshLedgers(open);

    test("an empty chain has seq 0 and verifies", async () => {
      const { audit } = await fresh();
      expect(await audit.lastSeq()).toBe(0);
      expect(await audit.after(0, 10)).toEqual([]);
      expect(await audit.verify()).toEqual({ ok: true, count: 0, head: GENESIS });
    }, SETUP_TIMEOUT);

    test("append chains records with the same hashes on every backend", async () => {
      const { audit } = await fresh();
      const first = await audit.append(entry(1), AT);
      const body = canonicalBody(1, AT.toISOString(), entry(1));
      expect(first).toEqual({ ...(JSON.parse(body) as object), previous: GENESIS, hash: chainHash(GENESIS, body) } as never);
      const second = await audit.append(entry(2), AT);
      expect(second.seq).toBe(2);
      expect(second.previous).toBe(first.hash);
      expect(second.hash).toBe(chainHash(first.hash, canonicalBody(2, AT.toISOString(), entry(2))));
      expect(await audit.lastSeq()).toBe(2);
      expect(await audit.verify()).toEqual({ ok: true, count: 2, head: second.hash });
    }, SETUP_TIMEOUT);

    test("a SCEP issuance's transactionID is kept in the record and hashed as audit.ts hashes it", async () => {
      const { audit } = await fresh();
      const scep: AuditEntry = { ...entry(1), requester: "scep:printer-7", transaction: "5EB5D5A1C0FFEE" };
      const record = await audit.append(scep, AT);
      const body = canonicalBody(1, AT.toISOString(), scep);
      expect(JSON.parse(body).transaction).toBe("5EB5D5A1C0FFEE");
      expect(record.hash).toBe(chainHash(GENESIS, body));
      expect((await audit.after(0, 1))[0]).toMatchObject({ requester: "scep:printer-7", transaction: "5EB5D5A1C0FFEE" });
      expect((await audit.verify()).ok).toBe(true);
    }, SETUP_TIMEOUT);

    test("after reads records past a seq, oldest first, at most limit", async () => {
      const { audit } = await fresh();
      for (let n = 1; n <= 5; n++) await audit.append(entry(n), AT);
      expect((await audit.after(1, 3)).map((r) => r.seq)).toEqual([2, 3, 4]);
      expect((await audit.after(4, 10)).map((r) => r.serial)).toEqual(["s5"]);
      expect(await audit.after(5, 10)).toEqual([]);
    }, SETUP_TIMEOUT);

    test("appends made at once extend one chain", async () => {
      const { audit } = await fresh();
      const records = await Promise.all(Array.from({ length: 20 }, (_, n) => audit.append(entry(n), AT)));
      expect(records.map((r) => r.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, n) => n + 1));
      expect(await audit.verify()).toMatchObject({ ok: true, count: 20 });
    }, SETUP_TIMEOUT);

    test("issuances recorded by the ledger carry their audit records", async () => {
      const ledger = await fresh();
      const { certificate } = await import("./ledger.contract.ts");
      await Promise.all([1, 2, 3].map((n) => ledger.record(certificate(`s${n}`, n), entry(n))));
      expect((await ledger.audit.after(0, 10)).map((r) => r.serial).sort()).toEqual(["s1", "s2", "s3"]);
      expect(await ledger.audit.verify()).toMatchObject({ ok: true, count: 3 });
    }, SETUP_TIMEOUT);

    test("a webhook's denial and an issuance's webhook notes chain and read back as written", async () => {
      const ledger = await fresh();
      const denial = denyEntry({ subject: "CN=x", names: ["x.test"], profile: "server", keyType: "ec-p256" }, "frozen", { requester: "token:a", client: "127.0.0.1" }, { authorize: "denied" });
      const first = await ledger.audit.append(denial, AT);
      const body = canonicalBody(1, AT.toISOString(), denial);
      expect(first).toEqual({ ...(JSON.parse(body) as object), previous: GENESIS, hash: chainHash(GENESIS, body) } as never);
      expect(first).toMatchObject({ event: "deny", reason: "frozen", webhooks: { authorize: "denied" } });
      expect(first.serial).toBeUndefined();
      const { certificate } = await import("./ledger.contract.ts");
      const notes = { authorize: "failed open: did not answer within 300 ms", enrich: { addedNames: ["z.test"], addedExtensions: ["1.3.6.1.4.1.55555.1"] } };
      await ledger.record(certificate("s1", 1), issueEntry({ serial: "s1", subject: "CN=y", type: "server", keyType: "ec-p256" }, ["z.test"], { requester: "line" }, notes));
      expect((await ledger.audit.after(1, 10))[0]).toMatchObject({ seq: 2, event: "issue", serial: "s1", sans: ["z.test"], webhooks: notes });
      expect(await ledger.audit.verify()).toMatchObject({ ok: true, count: 2 });
    }, SETUP_TIMEOUT);
  });
}
