/**
 * @module
 * What every `ScepStore` promises (a ledger's `scep`), as one test body run
 * on each backend (test/contract/scep.test.ts): a transaction read back as
 * written, an unknown one absent, and a transactionID recorded twice keeping
 * its first certificate (a retried PKCSReq must not change what a poll gets).
 */
import { describe, expect, test } from "bun:test";
import type { Ledger } from "../../src/ca/ledger.ts";
import { freshLedgers, SETUP_TIMEOUT } from "./backends.ts";

const AT = new Date("2030-06-01T12:34:56.789Z");

export function scepStoreContract(name: string, open: () => Promise<Ledger>): void {
  describe(`ScepStore contract: ${name}`, () => {
    const fresh = freshLedgers(open);

    test("recordTransaction then findTransaction gives it back; an unknown id is undefined", async () => {
      const ledger = await fresh();
      const written = { transactionId: "A1B2C3D4E5F60718293A4B5C6D7E8F9012345678", serial: "0a1b2c", signerKey: "ab".repeat(32), createdAt: AT };
      await ledger.scep.recordTransaction(written);
      expect(await ledger.scep.findTransaction(written.transactionId)).toEqual(written);
      expect(await ledger.scep.findTransaction("a1b2c3d4e5f60718293a4b5c6d7e8f9012345678")).toBeUndefined();
      expect(await ledger.scep.findTransaction("")).toBeUndefined();
    }, SETUP_TIMEOUT);

    test("a transactionID recorded again keeps its first certificate", async () => {
      const ledger = await fresh();
      await ledger.scep.recordTransaction({ transactionId: "tx-1", serial: "01", signerKey: "11".repeat(32), createdAt: AT });
      await ledger.scep.recordTransaction({ transactionId: "tx-1", serial: "02", signerKey: "22".repeat(32), createdAt: new Date(AT.getTime() + 1000) });
      expect(await ledger.scep.findTransaction("tx-1")).toEqual({ transactionId: "tx-1", serial: "01", signerKey: "11".repeat(32), createdAt: AT });
    }, SETUP_TIMEOUT);
  });
}
