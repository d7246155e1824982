// The webhook gate's parts: the signature (checked against openssl's
// HMAC), the answers read strictly, the flags checked, and the gate itself
// against a webhook served by this test on 127.0.0.1 (allow, deny, enrich,
// hang, 500, bad JSON, redirect, nobody listening), fail-closed and fail-open.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { GateUnavailable, IssuanceDenied, type GateRequest } from "../src/ca/issuance-gate.ts";
import { parseTimeoutMs } from "../src/duration.ts";
import { AnswerError, parseAnswer } from "../src/server/webhooks/answer.ts";
import { WebhookGate } from "../src/server/webhooks/gate.ts";
import { readWebhookSecret, webhookSettings, webhookUrl } from "../src/server/webhooks/settings.ts";
import { signatureOf, verifySignature } from "../src/server/webhooks/signature.ts";
import { openssl, tempDir } from "./helpers.ts";
import { freePort } from "./server-helpers.ts";

const SECRET = Buffer.from("0123456789abcdef0123456789abcdef");

test("the signature is HMAC-SHA256 over timestamp.body, as openssl computes it", () => {
  const body = '{"type":"authorize","request":{"subject":"CN=a"}}';
  const byOpenssl = openssl(["dgst", "-sha256", "-hmac", SECRET.toString(), "-r"], `1700000000.${body}`).stdout.split(" ")[0];
  expect(signatureOf(SECRET, 1700000000, body)).toBe(`sha256=${byOpenssl}`);
});

test("a receiver's check: the right secret and body within five minutes pass; an old timestamp, another body or secret fail", () => {
  const body = '{"a":1}';
  const now = 1700000000_000;
  const headers = { timestamp: "1700000000", signature: signatureOf(SECRET, 1700000000, body) };
  expect(verifySignature(SECRET, headers, body, now)).toBe(true);
  expect(verifySignature(SECRET, headers, body, now + 299_000)).toBe(true);
  expect(verifySignature(SECRET, headers, body, now + 301_000)).toBe(false);
  expect(verifySignature(SECRET, headers, '{"a":2}', now)).toBe(false);
  expect(verifySignature(Buffer.from("another secret, just as long!!!!"), headers, body, now)).toBe(false);
  expect(verifySignature(SECRET, { ...headers, timestamp: "1700000001" }, body, now)).toBe(false);
  expect(verifySignature(SECRET, { ...headers, signature: null }, body, now)).toBe(false);
});

test("answers: allow, deny with its reason made one printable line, enrich's names and extensions", () => {
  expect(parseAnswer('{"allow": true}', "authorize")).toEqual({ allow: true, names: [], extensions: [] });
  expect(parseAnswer('{"allow": false, "reason": "frozen\\nERROR injected\\u202e"}', "authorize")).toEqual({ allow: false, reason: "frozen ERROR injected" });
  expect(parseAnswer('{"allow": false}', "enrich")).toEqual({ allow: false, reason: "" });
  expect(parseAnswer('{"allow": true, "note": "ignored", "subjectAltNames": ["A.Example.com", "10.0.0.1", "IP:::1"], "extensions": [{"oid": "1.2.3.4", "value": "DAN4eXo="}]}', "enrich")).toEqual({
    allow: true,
    names: [
      { type: "dns", value: "a.example.com" },
      { type: "ip", value: "10.0.0.1" },
      { type: "ip", value: "::1" },
    ],
    extensions: [{ oid: "1.2.3.4", critical: false, valueDer: new Uint8Array([0x0c, 0x03, 0x78, 0x79, 0x7a]) }],
  });
});

test("answers that say neither allow nor deny properly are the webhook's mistake, each named", () => {
  const mistake = (text: string, kind: "authorize" | "enrich" = "enrich") => {
    try {
      parseAnswer(text, kind);
    } catch (error) {
      expect(error).toBeInstanceOf(AnswerError);
      return (error as Error).message;
    }
    throw new Error(`accepted ${text}`);
  };
  expect(mistake("<html>")).toBe("answered with a body that is not JSON");
  expect(mistake("[]")).toBe("answered with JSON that is not an object");
  expect(mistake('{"allow": "yes"}')).toBe('answered without "allow": true or false');
  expect(mistake('{"allow": false, "reason": 5}')).toBe('answered a "reason" that is not a string');
  expect(mistake('{"allow": true, "subjectAltNames": ["x.example.com"]}', "authorize")).toBe("answered names or extensions; only the enrich webhook adds them");
  expect(mistake('{"allow": true, "subjectAltNames": "x.example.com"}')).toBe('answered "subjectAltNames" that is not a list of strings');
  expect(mistake('{"allow": true, "subjectAltNames": ["not a name"]}')).toBe("answered a subjectAltName that is refused: 'not a name' is not a DNS name or an IP address");
  expect(mistake('{"allow": true, "extensions": [{"oid": "1.2", "value": "AA=="}, {"oid": "x", "value": "AA=="}]}')).toBe("answered extensions[1].oid that is not a dotted OID");
  expect(mistake('{"allow": true, "extensions": [{"oid": "1.2.3", "critical": 1, "value": "AA=="}]}')).toBe("answered extensions[0].critical that is not true or false");
  expect(mistake('{"allow": true, "extensions": [{"oid": "1.2.3", "value": "not base64!"}]}')).toBe("answered extensions[0].value that is not base64 (the extension's DER value)");
});

test("flags: a webhook needs the secret file, which must be private; http:// only on loopback; the timeout in ms or s", () => {
  const dir = tempDir();
  const secretFile = join(dir, "secret");
  writeFileSync(secretFile, `${SECRET.toString()}\n`, { mode: 0o600 });
  const flags = { failOpen: false, extensions: [] as string[] };
  expect(webhookSettings(flags)).toBeUndefined();
  expect(() => webhookSettings({ ...flags, secretFile })).toThrow("--webhook-secret-file needs --authorize-webhook or --enrich-webhook");
  expect(() => webhookSettings({ ...flags, authorize: "http://127.0.0.1:9/a" })).toThrow("a webhook needs --webhook-secret-file FILE");
  expect(webhookSettings({ ...flags, authorize: "http://127.0.0.1:9/a", secretFile, timeout: "300ms" })).toEqual({ authorize: "http://127.0.0.1:9/a", secretFile, timeoutMs: 300, failOpen: false, extensions: [] });
  expect(() => webhookSettings({ ...flags, authorize: "http://127.0.0.1:9/a", secretFile, extensions: ["1.2.3"] })).toThrow("--webhook-extension is what --enrich-webhook may add");
  expect(() => webhookSettings({ ...flags, enrich: "http://127.0.0.1:9/a", secretFile, extensions: ["2.5.29.19"] })).toThrow("--webhook-extension 2.5.29.19 is an extension depot writes itself");
  expect(() => webhookSettings({ ...flags, enrich: "http://127.0.0.1:9/a", secretFile, extensions: ["1.2.x"] })).toThrow("--webhook-extension must be a dotted OID");
  chmodSync(secretFile, 0o640);
  expect(() => readWebhookSecret(secretFile)).toThrow(`${secretFile} can be read by other users; the webhook secret must be private: chmod 600 ${secretFile}`);
  chmodSync(secretFile, 0o400);
  expect(readWebhookSecret(secretFile)).toEqual(SECRET);
  const short = join(dir, "short");
  writeFileSync(short, "abc", { mode: 0o600 });
  expect(() => readWebhookSecret(short)).toThrow("holds 3 bytes; a secret needs at least 16");
  expect(webhookUrl("https://hooks.example.com/depot", "--authorize-webhook")).toBe("https://hooks.example.com/depot");
  expect(webhookUrl("http://[::1]:8080/x", "--authorize-webhook")).toBe("http://[::1]:8080/x");
  expect(() => webhookUrl("http://hooks.example.com/depot", "--authorize-webhook")).toThrow("--authorize-webhook may be http:// only on this machine (127.0.0.1, ::1, localhost); use https:// for hooks.example.com");
  expect(() => webhookUrl("https://user:pw@hooks.example.com/", "--enrich-webhook")).toThrow("--enrich-webhook must not carry credentials");
  expect(() => webhookUrl("ftp://x/", "--enrich-webhook")).toThrow("--enrich-webhook must be an https:// URL, not 'ftp://x/'");
  expect(parseTimeoutMs("2s", "--webhook-timeout", 50, 60_000)).toBe(2000);
  expect(() => parseTimeoutMs("10ms", "--webhook-timeout", 50, 60_000)).toThrow("--webhook-timeout must be a whole number and ms or s from 50 ms to 60 s (e.g. 500ms or 2s), not '10ms'");
});

// The webhook: each path one behaviour; every request's signature is checked as a receiver would, with node:crypto.
interface Received {
  path: string;
  body: { type: string; id: string; time: string; request: GateRequest };
  signed: boolean;
  headers: Record<string, string>;
}
const received: Received[] = [];
let hook: ReturnType<typeof Bun.serve>;
let base: string;

beforeAll(() => {
  hook = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      const text = await request.text();
      const timestamp = request.headers.get("x-depot-timestamp") ?? "";
      const expected = `sha256=${createHmac("sha256", SECRET).update(`${timestamp}.${text}`).digest("hex")}`;
      const path = new URL(request.url).pathname;
      received.push({ path, body: JSON.parse(text), signed: request.headers.get("x-depot-signature") === expected, headers: request.headers.toJSON() });
      switch (path) {
        case "/allow":
          return Response.json({ allow: true });
        case "/deny":
          return Response.json({ allow: false, reason: "not on a Friday" });
        case "/enrich":
          return Response.json({ allow: true, subjectAltNames: ["extra.example.com"], extensions: [{ oid: "1.3.6.1.4.1.55555.1", critical: false, value: "DAN4eXo=" }] });
        case "/hang":
          return new Promise<Response>(() => {});
        case "/error":
          return new Response("boom", { status: 500 });
        case "/bad-json":
          return new Response("{allow: true", { headers: { "content-type": "application/json" } });
        case "/redirect":
          return new Response(null, { status: 307, headers: { location: `${base}/allow` } });
        case "/huge":
          return new Response(JSON.stringify({ allow: true, pad: "x".repeat(100_000) }));
        default:
          return new Response("no such hook", { status: 404 });
      }
    },
  });
  base = `http://127.0.0.1:${hook.port}`;
});

afterAll(() => hook?.stop(true));

const request: GateRequest = {
  face: "api",
  profile: "server",
  subject: "CN=web.example.com",
  subjectAltNames: [{ type: "dns", value: "web.example.com" }],
  keyType: "ec-p256",
  days: 30,
  requester: "token:web",
  client: "192.0.2.1",
};

function gate(paths: { authorize?: string; enrich?: string }, options: { failOpen?: boolean; timeoutMs?: number } = {}) {
  const logged: string[] = [];
  const made = new WebhookGate({
    ...(paths.authorize ? { authorize: paths.authorize.startsWith("http") ? paths.authorize : `${base}${paths.authorize}` } : {}),
    ...(paths.enrich ? { enrich: paths.enrich.startsWith("http") ? paths.enrich : `${base}${paths.enrich}` } : {}),
    secret: SECRET,
    timeoutMs: options.timeoutMs ?? 300,
    failOpen: options.failOpen === true,
    log: (_level, message) => logged.push(message),
  });
  return { gate: made, logged };
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => {
      throw new Error("expected a failure");
    },
    (error: Error) => error,
  );
}

test("allow: both webhooks are POSTed the signed request, authorize first, with one id; enrich's additions come back", async () => {
  received.length = 0;
  const decision = await gate({ authorize: "/allow", enrich: "/enrich" }).gate.decide(request);
  expect(received.map((r) => [r.path, r.body.type, r.signed])).toEqual([
    ["/allow", "authorize", true],
    ["/enrich", "enrich", true],
  ]);
  expect(received[0]!.body.id).toBe(received[1]!.body.id);
  expect(received[0]!.body.request).toEqual(request);
  expect(Math.abs(Date.parse(received[0]!.body.time) - Date.now())).toBeLessThan(5000);
  expect(received[0]!.headers["content-type"]).toBe("application/json");
  expect(decision).toEqual({
    addNames: [{ type: "dns", value: "extra.example.com" }],
    addExtensions: [{ oid: "1.3.6.1.4.1.55555.1", critical: false, valueDer: new Uint8Array([0x0c, 0x03, 0x78, 0x79, 0x7a]) }],
    notes: { authorize: "allowed", enrich: { addedNames: ["extra.example.com"], addedExtensions: ["1.3.6.1.4.1.55555.1"] } },
  });
});

test("deny: IssuanceDenied with the webhook's reason, and enrich is not asked", async () => {
  received.length = 0;
  const error = await failure(gate({ authorize: "/deny", enrich: "/enrich" }).gate.decide(request));
  expect(error).toBeInstanceOf(IssuanceDenied);
  expect(error.message).toBe("issuance denied by the authorize webhook: not on a Friday");
  expect((error as IssuanceDenied).notes).toEqual({ authorize: "denied" });
  expect(received.map((r) => r.path)).toEqual(["/deny"]);
  const byEnrich = await failure(gate({ authorize: "/allow", enrich: "/deny" }).gate.decide(request));
  expect(byEnrich.message).toBe("issuance denied by the enrich webhook: not on a Friday");
  expect((byEnrich as IssuanceDenied).notes).toEqual({ authorize: "allowed", enrich: "denied" });
});

test("authorize only (SSH): enrich is not asked", async () => {
  received.length = 0;
  expect(await gate({ authorize: "/allow", enrich: "/enrich" }).gate.decide(request, { enrich: false })).toEqual({ addNames: [], addExtensions: [], notes: { authorize: "allowed" } });
  expect(received.map((r) => r.path)).toEqual(["/allow"]);
});

test("fail closed: a hang times out, a 500, bad JSON, a redirect (not followed), a huge answer, nobody listening: each GateUnavailable, saying why", async () => {
  const why = async (authorize: string) => {
    const error = await failure(gate({ authorize }).gate.decide(request));
    expect(error).toBeInstanceOf(GateUnavailable);
    return error.message.replace("; nothing was issued, retry in 5 s", "");
  };
  const started = performance.now();
  expect(await why("/hang")).toBe("the authorize webhook did not answer within 300 ms");
  expect(performance.now() - started).toBeLessThan(2000);
  expect(await why("/error")).toBe("the authorize webhook answered HTTP 500");
  expect(await why("/bad-json")).toBe("the authorize webhook answered with a body that is not JSON");
  received.length = 0;
  expect(await why("/redirect")).toBe("the authorize webhook answered HTTP 307");
  expect(received.map((r) => r.path)).toEqual(["/redirect"]);
  expect(await why("/huge")).toBe("the authorize webhook answered more than 64 KiB");
  expect(await why(`http://127.0.0.1:${freePort()}/nobody`)).toStartWith("the authorize webhook cannot be reached (");
});

test("fail open: a hang or nobody listening lets the issuance through, noted for the audit and logged; a 500 or a deny still stop it", async () => {
  const open = gate({ authorize: "/hang", enrich: "/enrich" }, { failOpen: true });
  const decision = await open.gate.decide(request);
  expect(decision.notes).toEqual({ authorize: "failed open: did not answer within 300 ms", enrich: { addedNames: ["extra.example.com"], addedExtensions: ["1.3.6.1.4.1.55555.1"] } });
  expect(open.logged).toEqual(["the authorize webhook did not answer within 300 ms; issuing anyway (--webhook-fail-open): CN=web.example.com"]);
  const nobody = await gate({ enrich: `http://127.0.0.1:${freePort()}/x` }, { failOpen: true }).gate.decide(request);
  expect(nobody.addNames).toEqual([]);
  expect(nobody.notes.enrich).toStartWith("failed open: cannot be reached (");
  expect(await failure(gate({ authorize: "/error" }, { failOpen: true }).gate.decide(request))).toBeInstanceOf(GateUnavailable);
  expect(await failure(gate({ authorize: "/deny" }, { failOpen: true }).gate.decide(request))).toBeInstanceOf(IssuanceDenied);
});

test("an https:// webhook with a private CA: trusted with the CA given (--webhook-ca), unreachable without it", async () => {
  const { createDepot } = await import("../src/ca/create.ts");
  const { Depot } = await import("../src/ca/depot.ts");
  await import("../src/store/open-ledger.ts");
  const path = join(tempDir(), "hooks-ca");
  await createDepot(path, { label: "Hooks CA", keyType: "ec-p256" });
  const depot = await Depot.open(path);
  const tls = await depot.issue({ profile: "server", subject: [{ name: "CN", oid: "2.5.4.3", value: "localhost" }], subjectAltNames: ["127.0.0.1"], keyType: "ec-p256" });
  const ca = depot.issuer.certificatePem;
  depot.close();
  const secure = Bun.serve({ hostname: "127.0.0.1", port: 0, tls: { cert: tls.certificatePem, key: tls.privateKeyPem }, fetch: () => Response.json({ allow: true }) });
  try {
    const url = `https://localhost:${secure.port}/authorize`;
    const trusting = new WebhookGate({ authorize: url, secret: SECRET, timeoutMs: 2000, failOpen: false, ca });
    expect((await trusting.decide(request)).notes).toEqual({ authorize: "allowed" });
    const error = await failure(new WebhookGate({ authorize: url, secret: SECRET, timeoutMs: 2000, failOpen: false }).decide(request));
    expect(error).toBeInstanceOf(GateUnavailable);
    expect(error.message).toStartWith("the authorize webhook cannot be reached (");
  } finally {
    secure.stop(true);
  }
});
