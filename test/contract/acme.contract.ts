/**
 * @module
 * What every `AcmeStore` promises (a ledger's `acme`), as one test body run
 * on each backend (test/contract/acme.test.ts): nonces used once, accounts
 * unique by key and bound to one EAB key, orders read back as made (their
 * authorizations and challenges in the order given), claims taken by one
 * owner until stale, and outcomes recorded.
 */
import { describe, expect, test } from "bun:test";
import type { Account, Authorization, Challenge, EabKey, Order } from "../../src/ca/acme-store.ts";
import { issueEntry } from "../../src/ca/audit.ts";
import { type Ledger, SerialCollisionError } from "../../src/ca/ledger.ts";
import type { DepotError } from "../../src/errors.ts";
import { certificate } from "./ledger.contract.ts";
import { freshLedgers, SETUP_TIMEOUT } from "./backends.ts";

const NOW = Date.parse("2030-01-01T00:00:00.000Z");
const HOUR = 3_600_000;
const MINUTE = 60_000;

const account = (id: string, options: Partial<Account> = {}): Account => ({
  id,
  thumbprint: `thumb-${id}`,
  jwk: { kty: "EC", crv: "P-256", x: id, y: id },
  status: "valid",
  contact: ["mailto:ops@example.test"],
  termsOfServiceAgreed: true,
  createdAt: NOW,
  ...options,
});

/** An order of three names whose ids do not sort in the order made: listing must follow the order, not the ids. */
function anOrder(accountId: string, id: string, createdAt = NOW) {
  const authorizations: Authorization[] = ["z.test", "a.test", "m.test"].map((value, i) => ({
    id: `${id}-${["zz", "aa", "mm"][i]}`,
    accountId,
    orderId: id,
    identifier: { type: "dns", value },
    wildcard: i === 2,
    status: "pending",
    expires: NOW + HOUR,
  }));
  const challenges: Challenge[] = authorizations.flatMap((a) =>
    (["http-01", "dns-01", "tls-alpn-01"] as const).map((type) => ({ id: `${a.id}-${type}`, authorizationId: a.id, type, token: `token-${a.id}-${type}`, status: "pending" as const })),
  );
  const order: Order = {
    id,
    accountId,
    status: "pending",
    identifiers: authorizations.map((a) => a.identifier),
    authorizationIds: authorizations.map((a) => a.id),
    expires: NOW + HOUR,
    notBefore: NOW,
    notAfter: NOW + 24 * HOUR,
    replaces: "aki.serial",
    createdAt,
  };
  return { order, authorizations, challenges };
}

const eab = (kid: string): EabKey => ({ kid, name: `key ${kid}`, hmacKey: new Uint8Array([1, 2, 3, 250]), allow: ["*.example.test"], createdAt: NOW });

export function acmeStoreContract(name: string, open: () => Promise<Ledger>): void {
  describe(`AcmeStore contract: ${name}`, () => {
    const freshLedger = freshLedgers(open);
    const fresh = async () => (await freshLedger()).acme;

    test("the nonce secret is made once; a nonce is used once", async () => {
      const store = await fresh();
      const secret = await store.nonceSecret();
      expect(secret.length).toBe(32);
      expect(await store.nonceSecret()).toEqual(secret);
      expect(await store.useNonce("n1", { issuedAt: NOW - 5, now: NOW, forgetBefore: NOW - HOUR })).toBe(true);
      // A nonce carries its issue time: a replay comes with the same one.
      expect(await store.useNonce("n1", { issuedAt: NOW - 5, now: NOW + 1, forgetBefore: NOW - HOUR })).toBe(false);
      expect(await store.useNonce("n2", { issuedAt: NOW - 5, now: NOW + 1, forgetBefore: NOW - HOUR })).toBe(true);
    }, SETUP_TIMEOUT);

    test("pruning forgets no nonce issued after forgetBefore: one still young enough to be accepted stays spent", async () => {
      const store = await fresh();
      expect(await store.useNonce("old", { issuedAt: NOW - 2 * HOUR, now: NOW - 2 * HOUR + 1000, forgetBefore: NOW - 3 * HOUR })).toBe(true);
      expect(await store.useNonce("young", { issuedAt: NOW - 30 * MINUTE, now: NOW - 30 * MINUTE, forgetBefore: NOW - 2 * HOUR })).toBe(true);
      // Later uses prune (each store at most once a minute) up to an hour and a minute back.
      for (const later of [NOW, NOW + 2 * MINUTE]) {
        expect(await store.useNonce(`other-${later}`, { issuedAt: later, now: later, forgetBefore: later - HOUR - MINUTE })).toBe(true);
      }
      expect(await store.useNonce("young", { issuedAt: NOW - 30 * MINUTE, now: NOW + 3 * MINUTE, forgetBefore: NOW - HOUR })).toBe(false);
    }, SETUP_TIMEOUT);

    test("an account is found as created, by id and by key; the same key finds the first account", async () => {
      const store = await fresh();
      const created = account("acct-1");
      expect(await store.createAccount(created)).toEqual(created);
      expect(await store.accountById("acct-1")).toEqual(created);
      expect(await store.accountByThumbprint("thumb-acct-1")).toEqual(created);
      expect(await store.createAccount(account("acct-2", { thumbprint: "thumb-acct-1" }))).toEqual(created);
      expect(await store.accountById("acct-2")).toBeUndefined();
      expect(await store.accountById("nobody")).toBeUndefined();
      const quiet = account("acct-3", { contact: [], termsOfServiceAgreed: false });
      await store.createAccount(quiet);
      expect(await store.accountById("acct-3")).toEqual(quiet);
    }, SETUP_TIMEOUT);

    test("an EAB key binds one account", async () => {
      const store = await fresh();
      await store.addEabKey(eab("kid-1"));
      expect(await store.eabKey("kid-1")).toEqual(eab("kid-1"));
      expect(await store.eabKey("kid-0")).toBeUndefined();
      const bound = account("acct-e", { eabKid: "kid-1" });
      expect(await store.createAccount(bound)).toEqual(bound);
      expect(await store.eabKey("kid-1")).toEqual({ ...eab("kid-1"), accountId: "acct-e" });
      expect(await store.createAccount(account("acct-f", { eabKid: "kid-1" }))).toBe("eab-used");
      expect(await store.accountById("acct-f")).toBeUndefined();
    }, SETUP_TIMEOUT);

    test("an account's contact, status and key change; a key held by another account is refused", async () => {
      const store = await fresh();
      await store.createAccount(account("a"));
      await store.createAccount(account("b"));
      expect(await store.updateAccount("a", { contact: ["mailto:new@example.test"] })).toMatchObject({ contact: ["mailto:new@example.test"], status: "valid" });
      expect(await store.updateAccount("a", { status: "deactivated" })).toMatchObject({ contact: ["mailto:new@example.test"], status: "deactivated" });
      expect(await store.changeKey("a", { kty: "OKP", x: "new" }, "thumb-new")).toBe(true);
      expect(await store.accountByThumbprint("thumb-new")).toMatchObject({ id: "a", jwk: { kty: "OKP", x: "new" } });
      expect(await store.changeKey("a", { kty: "EC" }, "thumb-b")).toBe(false);
      expect(await store.accountByThumbprint("thumb-new")).toMatchObject({ id: "a" });
    }, SETUP_TIMEOUT);

    test("an order reads back as made, its authorizations and challenges in the order given", async () => {
      const store = await fresh();
      await store.createAccount(account("acct"));
      const { order, authorizations, challenges } = anOrder("acct", "order-1");
      await store.createOrder(order, authorizations, challenges);
      expect(await store.order("order-1")).toEqual(order);
      expect(await store.order("order-0")).toBeUndefined();
      expect(await store.authorizationsOf("order-1")).toEqual(authorizations);
      expect(await store.authorization(authorizations[2]!.id)).toEqual(authorizations[2]);
      for (const authorization of authorizations) {
        expect(await store.challengesOf(authorization.id)).toEqual(challenges.filter((c) => c.authorizationId === authorization.id));
      }
      expect(await store.challenge(challenges[4]!.id)).toEqual(challenges[4]);
    }, SETUP_TIMEOUT);

    test("an account's orders: counted since a time, listed while unexpired, oldest first", async () => {
      const store = await fresh();
      await store.createAccount(account("acct"));
      for (const [id, at] of [["o-late", NOW + 2], ["o-early", NOW], ["o-mid", NOW + 1]] as const) {
        const { order, authorizations, challenges } = anOrder("acct", id, at);
        await store.createOrder(order, authorizations, challenges);
      }
      expect(await store.ordersSince("acct", NOW + 1)).toEqual({ count: 2, oldest: NOW + 1 });
      expect(await store.ordersSince("acct", NOW + 5)).toEqual({ count: 0 });
      expect(await store.ordersOf("acct", NOW)).toEqual(["o-early", "o-mid", "o-late"]);
      expect(await store.ordersOf("acct", NOW + HOUR)).toEqual([]);
    }, SETUP_TIMEOUT);

    test("a challenge is claimed by one owner until its claim is stale or its owner dead; its outcome settles the authorization", async () => {
      const store = await fresh();
      await store.createAccount(account("acct"));
      const { order, authorizations, challenges } = anOrder("acct", "order-c");
      await store.createOrder(order, authorizations, challenges);
      const id = challenges[0]!.id;
      expect(await store.claimChallenge(id, { now: NOW, owner: "host:1", staleBefore: NOW - 60_000 })).toBe(true);
      expect(await store.claimChallenge(id, { now: NOW + 1, owner: "host:2", staleBefore: NOW - 60_000 })).toBe(false);
      expect(await store.claimChallenge(id, { now: NOW + 2, owner: "host:2", staleBefore: NOW - 60_000, deadOwner: "host:1" })).toBe(true);
      expect(await store.challenge(id)).toMatchObject({ status: "processing", processingSince: NOW + 2, processingBy: "host:2" });
      expect(await store.claimChallenge(id, { now: NOW + 70_000, owner: "host:3", staleBefore: NOW + 10 })).toBe(true);
      // Only the claim's owner finishes a claimed challenge: host:2's late answer writes nothing.
      expect(await store.finishChallenge(id, { status: "invalid", at: NOW + 70_001, owner: "host:2" })).toBe(false);
      expect((await store.authorization(authorizations[0]!.id))!.status).toBe("pending");
      expect(await store.finishChallenge(id, { status: "valid", at: NOW + 70_001, owner: "host:3" })).toBe(true);
      expect(await store.challenge(id)).toMatchObject({ status: "valid", validated: NOW + 70_001 });
      expect((await store.authorization(authorizations[0]!.id))!.status).toBe("valid");
      // The authorization is settled: its other challenges can no longer be claimed.
      expect(await store.claimChallenge(challenges[1]!.id, { now: NOW, owner: "host:1", staleBefore: NOW - 60_000 })).toBe(false);

      const failed = challenges[3]!.id;
      expect(await store.claimChallenge(failed, { now: NOW, owner: "host:1", staleBefore: NOW - 60_000 })).toBe(true);
      const error = { type: "urn:ietf:params:acme:error:connection", detail: "no answer", status: 400, identifier: { type: "dns", value: "a.test" } };
      expect(await store.finishChallenge(failed, { status: "invalid", error, at: NOW + 5, owner: "host:1" })).toBe(true);
      const read = (await store.challenge(failed))!;
      expect(read.status).toBe("invalid");
      expect(read.error).toEqual(error);
      expect(read.validated).toBeUndefined();
      expect((await store.authorization(authorizations[1]!.id))!.status).toBe("invalid");
    }, SETUP_TIMEOUT);

    test("a check that ends before any claim finishes a pending challenge in one write, once, and only under a pending authorization", async () => {
      const store = await fresh();
      await store.createAccount(account("acct"));
      const { order, authorizations, challenges } = anOrder("acct", "order-u");
      await store.createOrder(order, authorizations, challenges);
      const [http, dns, alpn] = challenges.slice(6, 9).map((c) => c.id);
      expect(await store.finishChallenge(http!, { status: "valid", at: NOW + 7, owner: "host:1" })).toBe(true);
      expect(await store.challenge(http!)).toMatchObject({ status: "valid", validated: NOW + 7 });
      expect((await store.authorization(authorizations[2]!.id))!.status).toBe("valid");
      // A second validator of the same challenge (another worker) finds it done and writes nothing.
      expect(await store.finishChallenge(http!, { status: "invalid", at: NOW + 8, owner: "host:2" })).toBe(false);
      expect(await store.challenge(http!)).toMatchObject({ status: "valid", validated: NOW + 7 });
      // The authorization is settled: its other pending challenges are not finished either.
      expect(await store.finishChallenge(dns!, { status: "invalid", at: NOW + 9, owner: "host:1" })).toBe(false);
      expect((await store.challenge(dns!))!.status).toBe("pending");
      expect((await store.authorization(authorizations[2]!.id))!.status).toBe("valid");
      expect((await store.challenge(alpn!))!.status).toBe("pending");

      // A deactivated authorization's pending challenge stays as it was.
      await store.setAuthorizationStatus(authorizations[0]!.id, "deactivated");
      expect(await store.finishChallenge(challenges[0]!.id, { status: "valid", at: NOW, owner: "host:1" })).toBe(false);
      expect((await store.challenge(challenges[0]!.id))!.status).toBe("pending");
      expect((await store.authorization(authorizations[0]!.id))!.status).toBe("deactivated");
    }, SETUP_TIMEOUT);

    test("valid authorizations are found per account and identifier until they expire", async () => {
      const store = await fresh();
      await store.createAccount(account("acct"));
      const { order, authorizations, challenges } = anOrder("acct", "order-v");
      await store.createOrder(order, authorizations, challenges);
      const names = [authorizations[0]!.identifier, authorizations[1]!.identifier];
      expect(await store.hasValidAuthorizations("acct", names, NOW)).toBe(false);
      await store.setAuthorizationStatus(authorizations[0]!.id, "valid");
      await store.setAuthorizationStatus(authorizations[1]!.id, "valid");
      expect(await store.hasValidAuthorizations("acct", names, NOW)).toBe(true);
      expect(await store.hasValidAuthorizations("other", names, NOW)).toBe(false);
      expect(await store.hasValidAuthorizations("acct", names, NOW + HOUR)).toBe(false);
      await store.setAuthorizationStatus(authorizations[1]!.id, "deactivated");
      expect(await store.hasValidAuthorizations("acct", names, NOW)).toBe(false);
    }, SETUP_TIMEOUT);

    test("an order ends valid in the transaction of its certificate's row, once: a second row finishing it is refused and leaves nothing", async () => {
      const ledger = await freshLedger();
      const store = ledger.acme;
      await store.createAccount(account("acct"));
      for (const id of ["f-ok", "f-raced"]) {
        const { order, authorizations, challenges } = anOrder("acct", id);
        await store.createOrder(order, authorizations, challenges);
      }
      // A row that is not recorded finishes nothing: a serial taken, a token revoked.
      await ledger.record(certificate("0abc", 1));
      expect(await ledger.record(certificate("0abc", 1), undefined, { finishesAcmeOrder: "f-ok" }).catch((e: unknown) => e)).toBeInstanceOf(SerialCollisionError);
      const refused = await ledger.record(certificate("0abe", 1), undefined, { finishesAcmeOrder: "f-ok", condition: { tokenUnrevoked: { name: "gone", hash: "00" } } }).catch((e: unknown) => e);
      expect((refused as DepotError).code).toBe("E_REVOKED_TOKEN");
      expect((await store.order("f-ok"))!.status).toBe("pending");
      expect(await store.orderBySerial("0abc")).toBeUndefined();

      const issued = certificate("0abd", 2);
      await ledger.record(issued, issueEntry(issued, ["z.test"], { requester: "acme:acct" }), { finishesAcmeOrder: "f-ok" });
      expect(await store.order("f-ok")).toMatchObject({ status: "valid", certificateSerial: "0abd" });
      expect((await store.orderBySerial("0abd"))!.id).toBe("f-ok");
      // A late finalize of the same order: refused, its row and audit record not kept, the order as the first left it.
      const late = certificate("0abf", 3);
      const settled = await ledger.record(late, issueEntry(late, ["z.test"], { requester: "acme:acct" }), { finishesAcmeOrder: "f-ok" }).catch((e: unknown) => e);
      expect((settled as DepotError).code).toBe("E_ORDER_SETTLED");
      expect(await ledger.find("0abf")).toBeUndefined();
      expect(await store.order("f-ok")).toMatchObject({ status: "valid", certificateSerial: "0abd" });

      // Two finalizes at once (one connection's group commit in SQLite, two connections in PostgreSQL): one row, one valid order.
      const raced = [certificate("0ac1", 4), certificate("0ac2", 5)];
      const outcomes = await Promise.allSettled(raced.map((c) => ledger.record(c, issueEntry(c, ["z.test"], { requester: "acme:acct" }), { finishesAcmeOrder: "f-raced" })));
      expect(outcomes.filter((o) => o.status === "fulfilled").length).toBe(1);
      const lost = outcomes.find((o) => o.status === "rejected") as PromiseRejectedResult;
      expect((lost.reason as DepotError).code).toBe("E_ORDER_SETTLED");
      const winner = (await store.order("f-raced"))!.certificateSerial!;
      expect(["0ac1", "0ac2"]).toContain(winner);
      expect(await ledger.find(winner === "0ac1" ? "0ac2" : "0ac1")).toBeUndefined();
      expect(await ledger.audit.verify()).toMatchObject({ ok: true });
    }, SETUP_TIMEOUT);
  });
}
