// Token policies allow exactly what their patterns say; the ledger counts uses and rates atomically.
import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { parseDn } from "../src/ca/dn.ts";
import { parseSubjectAltName, serverNames } from "../src/ca/profiles.ts";
import { checkPolicy, parsePattern, PolicyRefusal, type TokenPolicy } from "../src/ca/token-policy.ts";
import { hashToken, newToken, parseDuration, parseRate, refusalOf, type TokenRecord } from "../src/ca/tokens.ts";
import { SqliteLedger } from "../src/store/sqlite/ledger.ts";
import { DepotError } from "../src/errors.ts";
import { tempDir } from "./helpers.ts";

const policy = (allow: string[], extra: Partial<TokenPolicy> = {}): TokenPolicy => ({ admin: false, allow, ...extra });

function verdict(p: TokenPolicy, request: { type?: "client" | "server"; subject: string; san?: string[]; keyType?: string; days?: number }): string {
  const subject = parseDn(request.subject);
  const profile = request.type ?? "server";
  const names = profile === "server" ? serverNames(subject.find((a) => a.name === "CN")?.value, request.san ?? []) : [];
  try {
    checkPolicy("t", p, { profile, subject, names, keyType: request.keyType ?? "ec-p256", days: request.days ?? 30 });
    return "ok";
  } catch (error) {
    if (error instanceof PolicyRefusal) return error.message;
    throw error;
  }
}

describe("policy", () => {
  test.each([
    // [patterns, subject, sans, expected]
    [["*.svc.example.com"], "CN=api.svc.example.com", [], "ok"],
    [["*.svc.example.com"], "CN=a.b.svc.example.com", [], "token 't' does not allow the DNS name a.b.svc.example.com (allowed: *.svc.example.com)"],
    [["**.svc.example.com"], "CN=a.b.svc.example.com", [], "ok"],
    [["*.svc.example.com"], "CN=svc.example.com", [], "token 't' does not allow the DNS name svc.example.com (allowed: *.svc.example.com)"],
    [["*.svc.example.com"], "CN=API.SVC.example.com", [], "ok"],
    [["*.svc.example.com"], "CN=api.svc.example.com", ["evil.com"], "token 't' does not allow the DNS name evil.com (allowed: *.svc.example.com)"],
    [["web-*.example.com"], "CN=web-01.example.com", [], "ok"],
    [["web-*.example.com"], "CN=db-01.example.com", [], "token 't' does not allow the DNS name db-01.example.com (allowed: web-*.example.com)"],
    [["*.svc.example.com", "10.0.0.0/8"], "CN=api.svc.example.com", ["10.1.2.3"], "ok"],
    [["*.svc.example.com", "10.0.0.0/8"], "CN=api.svc.example.com", ["11.1.2.3"], "token 't' does not allow the IP address 11.1.2.3 (allowed: *.svc.example.com, 10.0.0.0/8)"],
    [["192.0.2.7"], "CN=192.0.2.7", [], "ok"],
    [["2001:db8::/32"], "CN=my server", ["2001:db8::1"], "token 't' does not allow CN=my server (allowed: 2001:db8::/32)"],
    [["2001:db8::/32", "cn:my *"], "CN=my server", ["2001:db8::1"], "ok"],
    [["2001:db8::/32", "cn:my *"], "CN=my server", ["2001:db9::1"], "token 't' does not allow the IP address 2001:db9::1 (allowed: 2001:db8::/32, cn:my *)"],
    // A server's CN that is a host name becomes a dNSName: cn: alone does not let it through.
    [["cn:x"], "CN=x", [], "token 't' does not allow the DNS name x (allowed: cn:x)"],
    [["*.svc.example.com"], "O=Admins,CN=api.svc.example.com", [], "token 't' does not allow O=Admins (allowed: *.svc.example.com)"],
    [["*.svc.example.com", "o:Example"], "O=Example,CN=api.svc.example.com", [], "ok"],
  ] as const)("%j allows %s %j: %s", (allow, subject, san, expected) => {
    expect(verdict(policy([...allow]), { subject, san: [...san] })).toBe(expected);
  });

  test("client names: CN and e-mail patterns; an empty list allows any name", () => {
    const people = policy(["cn:Bob *", "email:*@example.com"]);
    expect(verdict(people, { type: "client", subject: "CN=Bob Owner,emailAddress=bob@EXAMPLE.com" })).toBe("ok");
    expect(verdict(people, { type: "client", subject: "CN=Alice" })).toBe("token 't' does not allow CN=Alice (allowed: cn:Bob *, email:*@example.com)");
    expect(verdict(people, { type: "client", subject: "CN=Bob,emailAddress=bob@evil.com" })).toBe("token 't' does not allow CN=Bob (allowed: cn:Bob *, email:*@example.com)");
    expect(verdict(people, { type: "client", subject: "CN=Bob x,UID=7" })).toBe("token 't' does not allow UID=7 (allowed: cn:Bob *, email:*@example.com)");
    expect(verdict(policy([]), { type: "client", subject: "CN=admin,O=Anything" })).toBe("ok");
  });

  test("profile, key type and validity", () => {
    expect(verdict(policy([], { type: "client" }), { type: "server", subject: "CN=a.example" })).toBe("token 't' does not allow server certificates (only client)");
    expect(verdict(policy([], { keyTypes: ["ec-p256"] }), { subject: "CN=a.example", keyType: "rsa-2048" })).toBe("token 't' does not allow key type rsa-2048 (only ec-p256)");
    expect(verdict(policy([], { maxDays: 30 }), { subject: "CN=a.example", days: 31 })).toBe("token 't' does not allow 31 days (at most 30)");
    expect(verdict(policy([], { maxDays: 30 }), { subject: "CN=a.example", days: 30 })).toBe("ok");
  });

  test("bad patterns are refused when the token is made", () => {
    const message = (text: string) => {
      try {
        parsePattern(text);
        return "ok";
      } catch (error) {
        return (error as DepotError).message;
      }
    };
    expect(message("10.0.0.0/33")).toBe("--allow '10.0.0.0/33': the prefix length must be 0 to 32");
    expect(message("foo:bar")).toBe("--allow 'foo:bar': unknown kind 'foo:' (dns:, ip:, email:, or a subject attribute such as cn:, uid:, o:)");
    expect(message("exa mple.com")).toStartWith("--allow 'exa mple.com': a DNS pattern is");
    expect(message("cn:")).toBe("--allow 'cn:': the pattern after the colon is empty");
    expect(message("ip:fe80::/10")).toBe("ok");
    expect(message("fd00::/8")).toBe("ok");
  });

  test("a DNS pattern's dots are literal", () => {
    expect(verdict(policy(["a.example.com"]), { subject: "CN=axexample.com" })).toBe("token 't' does not allow the DNS name axexample.com (allowed: a.example.com)");
    expect(parseSubjectAltName("a.example.com").type).toBe("dns");
  });
});

test("durations and rates", () => {
  expect(parseDuration("30m")).toBe(1_800_000);
  expect(parseDuration("7d")).toBe(604_800_000);
  expect(() => parseDuration("7 weeks")).toThrow("'7 weeks' is not a duration (a whole number and s, m, h or d, e.g. 30m or 7d; at most 10 years)");
  expect(parseRate("10/min")).toEqual({ limit: 10, windowSeconds: 60 });
  expect(parseRate("5/s")).toEqual({ limit: 5, windowSeconds: 1 });
  expect(() => parseRate("0/min")).toThrow("'0/min' is not a rate");
});

test("tokens: 256 random bits after the prefix; the store keeps the hash only", async () => {
  const token = newToken();
  expect(token).toMatch(/^depot_[A-Za-z0-9_-]{43}$/);
  expect(Buffer.from(token.slice(6), "base64url").length).toBe(32);
  const { store, db, audit } = openStore();
  await store.create(record("a", token), { event: "token-create", requester: "cli", token: "a" });
  const rows = db.query("SELECT * FROM api_tokens").all();
  expect(JSON.stringify(rows)).not.toContain(token);
  expect((await store.findByHash(hashToken(token)))?.name).toBe("a");
  expect(await store.findByHash(hashToken(newToken()))).toBeUndefined();
  expect(store.create(record("a", newToken()), { event: "token-create", requester: "cli", token: "a" })).rejects.toThrow("a token named 'a' exists; revoke it first or choose another name");
  const revoked = await store.revoke("a", new Date(), { event: "token-revoke", requester: "cli", token: "a" });
  expect(refusalOf(revoked, new Date())).toBe("revoked");
  // The name is free again once revoked.
  await store.create(record("a", newToken()), { event: "token-create", requester: "cli", token: "a" });
  expect((await audit.verify()).ok).toBe(true);
});

test("uses are taken atomically: 50 concurrent takes of a 3-use token, 3 succeed", async () => {
  const dir = tempDir();
  const path = join(dir, "ledger.sqlite3");
  const { store } = openStore(path);
  await store.create({ ...record("once", newToken()), uses: 3 }, { event: "token-create", requester: "cli", token: "once" });
  // Separate connections, as separate workers have.
  const stores = Array.from({ length: 5 }, () => openStore(path).store);
  const results = await Promise.all(Array.from({ length: 50 }, (_, i) => stores[i % 5]!.takeUse("once")));
  expect(results.filter(Boolean).length).toBe(3);
  await store.returnUse("once");
  expect(await store.takeUse("once")).toBe(true);
  expect(await store.takeUse("once")).toBe(false);
});

test("rate: a sliding window across connections, with the wait until the next request fits", async () => {
  const dir = tempDir();
  const path = join(dir, "ledger.sqlite3");
  const { store } = openStore(path);
  const rate = { limit: 3, windowSeconds: 60 };
  await store.create({ ...record("r", newToken()), rate }, { event: "token-create", requester: "cli", token: "r" });
  const other = openStore(path).store;
  const start = new Date(Math.floor(Date.now() / 60_000) * 60_000 + 30_000);
  expect(await store.takeRate("r", rate, start)).toEqual({ ok: true });
  expect(await other.takeRate("r", rate, start)).toEqual({ ok: true });
  expect(await store.takeRate("r", rate, start)).toEqual({ ok: true });
  expect(await other.takeRate("r", rate, start)).toEqual({ ok: false, retryAfterSeconds: 30 });
  // Half way through the next window, half of the previous window's 3 still count.
  const next = new Date(start.getTime() + 60_000);
  expect(await store.takeRate("r", rate, next)).toEqual({ ok: true }); // 1.5 + 0 + 1 <= 3
  expect(await store.takeRate("r", rate, next)).toEqual({ ok: false, retryAfterSeconds: 10 }); // 1.5 + 1 + 1 > 3 until 2/3 of the way
  expect(await store.takeRate("r", rate, new Date(next.getTime() + 10_000))).toEqual({ ok: true });
});

function record(name: string, token: string): TokenRecord {
  return { name, hash: hashToken(token), policy: { admin: false, allow: [] }, createdAt: new Date() };
}

/** A ledger's token store (its own connection, as each worker has), and a second connection to read its rows. */
function openStore(path = join(tempDir(), "ledger.sqlite3")) {
  const ledger = SqliteLedger.open(path, { create: true, groupReadable: false });
  return { db: new Database(path, { strict: true }), store: ledger.tokens, audit: ledger.audit };
}
