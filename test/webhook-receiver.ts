/**
 * @module
 * A webhook receiver for tests, served on 127.0.0.1:0 in the test's own
 * process: it checks each request's signature as docs/webhooks.md tells a
 * receiver to (HMAC-SHA256 with node:crypto, not depot's code; timestamps
 * within five minutes) and answers what the test decides for that request:
 * allow, deny, add names and extensions, hang, fail with 500, or bad JSON.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "./helpers.ts";

export type Behaviour =
  | "allow"
  | "hang"
  | "error"
  | "bad-json"
  | { deny: string }
  | { add: { subjectAltNames?: string[]; extensions?: { oid: string; critical?: boolean; value: string }[] } };

export interface HookCall {
  type: "authorize" | "enrich";
  id: string;
  time: string;
  request: { face: string; profile: string; subject: string; subjectAltNames: { type: string; value: string }[]; keyType: string; days: number; requester: string; client?: string };
  /** Whether the signature held and the timestamp was fresh. */
  signed: boolean;
}

export interface WebhookReceiver {
  /** The URL of the authorize or enrich webhook. */
  url(type: "authorize" | "enrich"): string;
  /** The secret file depot reads (0600). */
  secretFile: string;
  /** What each webhook answers a request; default allow. */
  behave: { authorize: (call: HookCall) => Behaviour; enrich: (call: HookCall) => Behaviour };
  calls: HookCall[];
  stop(): void;
}

export function startWebhookReceiver(): WebhookReceiver {
  const secret = "test-secret-" + crypto.randomUUID();
  const secretFile = join(tempDir("depot-hook-"), "webhook.secret");
  writeFileSync(secretFile, `${secret}\n`, { mode: 0o600 });
  chmodSync(secretFile, 0o600);
  const receiver: WebhookReceiver = {
    url: (type) => `http://127.0.0.1:${server.port}/${type}`,
    secretFile,
    behave: { authorize: () => "allow", enrich: () => "allow" },
    calls: [],
    stop: () => server.stop(true),
  };
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      const body = await request.text();
      const timestamp = request.headers.get("x-depot-timestamp") ?? "";
      const given = Buffer.from(request.headers.get("x-depot-signature") ?? "");
      const expected = Buffer.from(`sha256=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`);
      const fresh = Math.abs(Date.now() / 1000 - Number(timestamp)) <= 300;
      const signed = fresh && given.length === expected.length && timingSafeEqual(given, expected);
      const call = { ...(JSON.parse(body) as Omit<HookCall, "signed">), signed };
      receiver.calls.push(call);
      // A receiver refuses what it cannot trust: depot then fails closed.
      if (!signed) return new Response("bad signature", { status: 401 });
      const behaviour = call.type === "enrich" ? receiver.behave.enrich(call) : receiver.behave.authorize(call);
      if (behaviour === "allow") return Response.json({ allow: true });
      if (behaviour === "hang") return new Promise<Response>(() => {});
      if (behaviour === "error") return new Response("internal error", { status: 500 });
      if (behaviour === "bad-json") return new Response("{allow: yes", { headers: { "content-type": "application/json" } });
      if ("deny" in behaviour) return Response.json({ allow: false, reason: behaviour.deny });
      return Response.json({ allow: true, ...behaviour.add });
    },
  });
  return receiver;
}
