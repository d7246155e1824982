/**
 * @module
 * What every `TokenStore` promises (a ledger's `tokens`), as one test body
 * run on each backend (test/contract/tokens.test.ts): a token kept whole and
 * found by its hash only, names unique until revoked, uses taken and given
 * back atomically, a rate window counted, and an audit record for each change.
 */
import { describe, expect, test } from "bun:test";
import type { Ledger } from "../../src/ca/ledger.ts";
import { hashToken, newToken, type TokenRecord } from "../../src/ca/tokens.ts";
import { DepotError } from "../../src/errors.ts";
import { freshLedgers, SETUP_TIMEOUT } from "./backends.ts";

const T0 = Date.parse("2030-01-01T00:00:00.000Z");

function token(name: string, options: Partial<TokenRecord> = {}): TokenRecord {
  return {
    name,
    hash: hashToken(newToken()),
    policy: { admin: false, allow: ["*.example.test"], type: "server", keyTypes: ["ec-p256"], maxDays: 30 },
    createdAt: new Date(T0),
    ...options,
  };
}

const created = (name: string) => ({ event: "token-create" as const, requester: "cli", token: name });

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (error) {
    return error instanceof DepotError ? error.code : String(error);
  }
  return undefined;
}

export function tokenStoreContract(name: string, open: () => Promise<Ledger>): void {
  describe(`TokenStore contract: ${name}`, () => {
    const fresh = freshLedgers(open);

    test("a created token is found whole by its hash, and by nothing else", async () => {
      const { tokens } = await fresh();
      const record = token("deploy", { expiresAt: new Date(T0 + 3_600_000), uses: 3, rate: { limit: 10, windowSeconds: 60 } });
      await tokens.create(record, created("deploy"));
      expect(await tokens.findByHash(record.hash)).toEqual({ ...record, usesLeft: 3 });
      expect(await tokens.findByHash(hashToken(newToken()))).toBeUndefined();
      const plain = token("plain");
      await tokens.create(plain, created("plain"));
      expect(await tokens.findByHash(plain.hash)).toEqual(plain);
    }, SETUP_TIMEOUT);

    test("a name is taken until its token is revoked; list is in order of creation, then name", async () => {
      const { tokens } = await fresh();
      await tokens.create(token("b", { createdAt: new Date(T0 + 1) }), created("b"));
      await tokens.create(token("a", { createdAt: new Date(T0 + 1) }), created("a"));
      await tokens.create(token("c"), created("c"));
      expect(await codeOf(tokens.create(token("a"), created("a")))).toBe("E_BAD_ARGUMENT");
      expect((await tokens.list()).map((t) => t.name)).toEqual(["c", "a", "b"]);
      const revoked = await tokens.revoke("a", new Date(T0 + 5), { event: "token-revoke", requester: "cli", token: "a" });
      expect(revoked.revokedAt).toEqual(new Date(T0 + 5));
      const again = token("a", { createdAt: new Date(T0 + 9) });
      await tokens.create(again, created("a"));
      expect(await tokens.findByHash(again.hash)).toEqual(again);
    }, SETUP_TIMEOUT);

    test("revoke refuses an unknown name and a token already revoked", async () => {
      const { tokens } = await fresh();
      const entry = { event: "token-revoke" as const, requester: "cli", token: "x" };
      expect(await codeOf(tokens.revoke("x", new Date(T0), entry))).toBe("E_NOT_FOUND");
      await tokens.create(token("x"), created("x"));
      await tokens.revoke("x", new Date(T0), entry);
      expect(await codeOf(tokens.revoke("x", new Date(T0), entry))).toBe("E_ALREADY_REVOKED");
    }, SETUP_TIMEOUT);

    test("uses are taken one at a time until none is left, and given back", async () => {
      const { tokens } = await fresh();
      const record = token("once", { uses: 2 });
      await tokens.create(record, created("once"));
      // Taken at once: two succeed, whichever they are.
      const taken = await Promise.all([tokens.takeUse("once"), tokens.takeUse("once"), tokens.takeUse("once")]);
      expect(taken.filter(Boolean).length).toBe(2);
      expect((await tokens.findByHash(record.hash))!.usesLeft).toBe(0);
      await tokens.returnUse("once");
      expect((await tokens.findByHash(record.hash))!.usesLeft).toBe(1);
      // Unlimited tokens have no count to take from or give back to.
      await tokens.create(token("many"), created("many"));
      expect(await tokens.takeUse("many")).toBe(false);
      await tokens.returnUse("many");
    }, SETUP_TIMEOUT);

    test("a revoked token gives no more uses", async () => {
      const { tokens } = await fresh();
      await tokens.create(token("r", { uses: 5 }), created("r"));
      await tokens.revoke("r", new Date(T0), { event: "token-revoke", requester: "cli", token: "r" });
      expect(await tokens.takeUse("r")).toBe(false);
    }, SETUP_TIMEOUT);

    test("a rate allows its limit in a window, then says when to retry", async () => {
      const { tokens } = await fresh();
      const rate = { limit: 2, windowSeconds: 60 };
      await tokens.create(token("rated", { rate }), created("rated"));
      const now = new Date(Math.floor(T0 / 60_000) * 60_000 + 1_000);
      expect(await tokens.takeRate("rated", rate, now)).toEqual({ ok: true });
      expect(await tokens.takeRate("rated", rate, now)).toEqual({ ok: true });
      expect(await tokens.takeRate("rated", rate, now)).toEqual({ ok: false, retryAfterSeconds: 59 });
      // Two windows later nothing of these counts.
      expect(await tokens.takeRate("rated", rate, new Date(now.getTime() + 120_000))).toEqual({ ok: true });
      expect(await tokens.takeRate("unknown", rate, now)).toEqual({ ok: true });
    }, SETUP_TIMEOUT);

    test("creating and revoking a token each append their audit record", async () => {
      const ledger = await fresh();
      await ledger.tokens.create(token("audited"), created("audited"));
      await ledger.tokens.revoke("audited", new Date(T0), { event: "token-revoke", requester: "cli", token: "audited" });
      const records = await ledger.audit.after(0, 10);
      expect(records.map((r) => [r.event, r.token])).toEqual([
        ["token-create", "audited"],
        ["token-revoke", "audited"],
      ]);
      expect(await ledger.audit.verify()).toMatchObject({ ok: true, count: 2 });
    }, SETUP_TIMEOUT);
  });
}
