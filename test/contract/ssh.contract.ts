/**
 * @module
 * What every `SshStore` promises (a ledger's `ssh`), as one test body run on
 * each backend (test/contract/ssh.test.ts): a record read back as written,
 * its audit record in the same chain, a taken serial refused, revocations
 * counted once and listed for the KRL only while unexpired, listings in
 * issue order by status.
 */
import { describe, expect, test } from "bun:test";
import { DepotError } from "../../src/errors.ts";
import { type Ledger, SerialCollisionError } from "../../src/ca/ledger.ts";
import { type SshCertificateRecord, sshIssueEntry } from "../../src/ca/ssh/store.ts";
import { freshLedgers, SETUP_TIMEOUT } from "./backends.ts";

const NOW = new Date("2030-06-01T00:00:00.000Z");
const HOUR = 3_600_000;

const record = (serial: string, extra: Partial<SshCertificateRecord> = {}): SshCertificateRecord => ({
  serial,
  kind: "user",
  keyId: `id-${serial}`,
  principals: ["alice", "deploy"],
  keyType: "ssh-ed25519",
  keyFingerprint: `SHA256:${serial}`,
  validAfter: new Date(NOW.getTime() - HOUR),
  validBefore: new Date(NOW.getTime() + HOUR),
  certificate: `ssh-ed25519-cert-v01@openssh.com AAAA${serial} id-${serial}`,
  status: "valid",
  ...extra,
});

const actor = { requester: "cli" };

export function sshStoreContract(name: string, open: () => Promise<Ledger>): void {
  describe(`SshStore contract: ${name}`, () => {
    const fresh = freshLedgers(open);

    test("record then find gives the record back; its audit record is in the chain", async () => {
      const ledger = await fresh();
      const written = record("18446744073709551615", { kind: "host", principals: ["web1.example.com"] });
      await ledger.ssh.record(written, sshIssueEntry(written, { requester: "token:ops", client: "127.0.0.1" }));
      expect(await ledger.ssh.find(written.serial)).toEqual(written);
      expect(await ledger.ssh.find("1")).toBeUndefined();
      const [audit] = await ledger.audit.after(0, 10);
      expect(audit).toMatchObject({ event: "ssh-issue", serial: written.serial, profile: "ssh-host", requester: "token:ops", client: "127.0.0.1", sans: ["web1.example.com"] });
      expect((await ledger.audit.verify()).ok).toBe(true);
    }, SETUP_TIMEOUT);

    test("a taken serial is SerialCollisionError and leaves no audit record", async () => {
      const ledger = await fresh();
      await ledger.ssh.record(record("7"), sshIssueEntry(record("7"), actor));
      const again = record("7", { keyId: "other" });
      expect(ledger.ssh.record(again, sshIssueEntry(again, actor))).rejects.toBeInstanceOf(SerialCollisionError);
      await Bun.sleep(50);
      expect(await ledger.audit.lastSeq()).toBe(1);
      expect((await ledger.ssh.find("7"))?.keyId).toBe("id-7");
    }, SETUP_TIMEOUT);

    test("revoke marks, counts and audits once; again is E_ALREADY_REVOKED, unknown E_NOT_FOUND", async () => {
      const ledger = await fresh();
      for (const serial of ["1", "2", "3"]) await ledger.ssh.record(record(serial), sshIssueEntry(record(serial), actor));
      expect((await ledger.ssh.revocations(NOW)).count).toBe(0);
      const revoked = await ledger.ssh.revoke("2", "keyCompromise", NOW, actor);
      expect(revoked).toMatchObject({ serial: "2", status: "revoked", revocationReason: "keyCompromise" });
      expect(revoked.revokedAt?.toISOString()).toBe(NOW.toISOString());
      await expect(ledger.ssh.revoke("2", "superseded", NOW, actor)).rejects.toMatchObject({ code: "E_ALREADY_REVOKED" });
      await expect(ledger.ssh.revoke("99", "superseded", NOW, actor)).rejects.toBeInstanceOf(DepotError);
      await expect(ledger.ssh.revoke("99", "superseded", NOW, actor)).rejects.toMatchObject({ code: "E_NOT_FOUND" });
      expect(await ledger.ssh.revocations(NOW)).toEqual({ count: 1, serials: { user: [2n], host: [] } });
      const events = (await ledger.audit.after(0, 10)).map((r) => r.event);
      expect(events).toEqual(["ssh-issue", "ssh-issue", "ssh-issue", "ssh-revoke"]);
    }, SETUP_TIMEOUT);

    test("the KRL's serials: revoked and unexpired, per CA; the count keeps every revocation", async () => {
      const ledger = await fresh();
      const expired = record("10", { validBefore: new Date(NOW.getTime() - 1) });
      const host = record("11", { kind: "host" });
      for (const r of [expired, host, record("12")]) await ledger.ssh.record(r, sshIssueEntry(r, actor));
      for (const serial of ["10", "11", "12"]) await ledger.ssh.revoke(serial, "unspecified", NOW, actor);
      const { count, serials } = await ledger.ssh.revocations(NOW);
      expect(count).toBe(3);
      expect(serials).toEqual({ user: [12n], host: [11n] });
    }, SETUP_TIMEOUT);

    test("list: issue order, by status, without the certificate lines", async () => {
      const ledger = await fresh();
      const early = record("21", { validAfter: new Date(NOW.getTime() - 3 * HOUR) });
      const expired = record("22", { validAfter: new Date(NOW.getTime() - 2 * HOUR), validBefore: new Date(NOW.getTime() - HOUR) });
      const late = record("23");
      for (const r of [late, expired, early]) await ledger.ssh.record(r, sshIssueEntry(r, actor));
      await ledger.ssh.revoke("23", "superseded", NOW, actor);
      const all = await ledger.ssh.list({ now: NOW });
      expect(all.map((r) => r.serial)).toEqual(["21", "22", "23"]);
      expect(all.every((r) => !("certificate" in r))).toBe(true);
      expect((await ledger.ssh.list({ status: "valid", now: NOW })).map((r) => r.serial)).toEqual(["21"]);
      expect((await ledger.ssh.list({ status: "expired", now: NOW })).map((r) => r.serial)).toEqual(["22"]);
      expect((await ledger.ssh.list({ status: "revoked", now: NOW })).map((r) => r.serial)).toEqual(["23"]);
    }, SETUP_TIMEOUT);
  });
}
