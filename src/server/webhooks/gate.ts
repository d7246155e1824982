/**
 * @module
 * The issuance gate over HTTP (`IssuanceGate`, src/ca/issuance-gate.ts):
 * before each issuance a worker POSTs the request as signed JSON to the
 * authorize webhook, then to the enrich webhook, each within the timeout,
 * redirects not followed. A deny throws `IssuanceDenied`; a webhook that
 * cannot be reached or does not answer in time throws `GateUnavailable`
 * (fail closed), or with fail-open lets the issuance go ahead, noted in its
 * audit record; a webhook that answers wrongly (not 2xx, not the expected
 * JSON) always fails closed.
 */
import { randomUUID } from "node:crypto";
import type { WebhookNotes } from "../../ca/audit.ts";
import { type GateDecision, type GateRequest, GateUnavailable, IssuanceDenied, type IssuanceGate } from "../../ca/issuance-gate.ts";
import { messageOf } from "../../errors.ts";
import type { LogLevel } from "../../log-level.ts";
import { VERSION } from "../../version.ts";
import { AnswerError, parseAnswer, type WebhookAnswer, type WebhookKind } from "./answer.ts";
import { readWebhookCa, readWebhookSecret, type WebhookSettings } from "./settings.ts";
import { signedHeaders } from "./signature.ts";

/** The largest answer read: an enrich answer is a few KiB. */
const MAX_ANSWER_BYTES = 64 * 1024;

/** What a webhook call came to when no decision came of it. */
class NoAnswer extends Error {
  constructor(
    message: string,
    /** No answer at all (timeout, no connection), which fail-open lets through; else a wrong answer, which nothing does. */
    readonly unreachable: boolean,
  ) {
    super(message);
  }
}

export interface WebhookGateOptions {
  authorize?: string;
  enrich?: string;
  secret: Uint8Array;
  timeoutMs: number;
  failOpen: boolean;
  /** PEM certificates to trust for https:// webhooks. */
  ca?: string;
  /** Told of each webhook failure that fail-open let through (the server's log). */
  log?: (level: LogLevel, message: string) => void;
}

/** A worker's gate from `depot start`'s settings: the secret (and CA) read from their files now. */
export function openWebhookGate(settings: WebhookSettings, log?: WebhookGateOptions["log"]): WebhookGate {
  return new WebhookGate({
    ...(settings.authorize ? { authorize: settings.authorize } : {}),
    ...(settings.enrich ? { enrich: settings.enrich } : {}),
    secret: readWebhookSecret(settings.secretFile),
    timeoutMs: settings.timeoutMs,
    failOpen: settings.failOpen,
    ...(settings.caFile ? { ca: readWebhookCa(settings.caFile) } : {}),
    ...(log ? { log } : {}),
  });
}

export class WebhookGate implements IssuanceGate {
  constructor(private readonly options: WebhookGateOptions) {}

  async decide(request: GateRequest, decideOptions: { enrich?: boolean } = {}): Promise<GateDecision> {
    // One id for both calls, so a receiver can tie the enrich call to its authorize call.
    const id = randomUUID();
    const notes: WebhookNotes = {};
    const decision: GateDecision = { addNames: [], addExtensions: [], notes };
    const authorize = await this.call("authorize", this.options.authorize, id, request, notes);
    if (authorize) notes.authorize = "allowed";
    if (decideOptions.enrich === false) return decision;
    const enrich = await this.call("enrich", this.options.enrich, id, request, notes);
    if (enrich?.allow) {
      decision.addNames = enrich.names;
      decision.addExtensions = enrich.extensions;
      notes.enrich = { addedNames: enrich.names.map((name) => name.value), addedExtensions: enrich.extensions.map((extension) => extension.oid) };
    }
    return decision;
  }

  /** One webhook's allow (undefined when it is not configured or failed open); a deny or a failure throws. */
  private async call(kind: WebhookKind, url: string | undefined, id: string, request: GateRequest, notes: WebhookNotes): Promise<(WebhookAnswer & { allow: true }) | undefined> {
    if (url === undefined) return undefined;
    let answer: WebhookAnswer;
    try {
      answer = parseAnswer(await this.post(url, JSON.stringify({ type: kind, id, time: new Date().toISOString(), request })), kind);
    } catch (error) {
      if (!(error instanceof NoAnswer || error instanceof AnswerError)) throw error;
      const failure = error instanceof NoAnswer ? error : new NoAnswer(error.message, false);
      const what = `the ${kind} webhook ${failure.message}`;
      if (failure.unreachable && this.options.failOpen) {
        notes[kind] = `failed open: ${failure.message}`;
        this.options.log?.("warn", `${what}; issuing anyway (--webhook-fail-open): ${request.subject}`);
        return undefined;
      }
      throw new GateUnavailable(what, { cause: error });
    }
    if (!answer.allow) {
      notes[kind] = "denied";
      throw new IssuanceDenied(kind, answer.reason, notes);
    }
    return answer;
  }

  /** POSTs the signed body; the answer's text when it is 2xx, else `NoAnswer`. The timeout covers connecting, waiting and reading. */
  private async post(url: string, body: string): Promise<string> {
    const { timeoutMs, ca, secret } = this.options;
    const signal = AbortSignal.timeout(timeoutMs);
    const timedOut = new Promise<never>((_, reject) => signal.addEventListener("abort", () => reject(new NoAnswer(`did not answer within ${timeoutMs} ms`, true)), { once: true }));
    timedOut.catch(() => {});
    let response: Response;
    try {
      response = await Promise.race([
        fetch(url, {
          method: "POST",
          body,
          headers: { "content-type": "application/json", "user-agent": `depot/${VERSION}`, ...signedHeaders(secret, body) },
          // A redirect is an answer that is not 2xx: following it would send the signed request elsewhere.
          redirect: "manual",
          signal,
          ...(ca ? { tls: { ca } } : {}),
        }),
        timedOut,
      ]);
    } catch (error) {
      if (error instanceof NoAnswer) throw error;
      if (signal.aborted) throw new NoAnswer(`did not answer within ${timeoutMs} ms`, true);
      throw new NoAnswer(`cannot be reached (${messageOf(error)})`, true);
    }
    if (response.status < 200 || response.status > 299) {
      await response.body?.cancel().catch(() => {});
      throw new NoAnswer(`answered HTTP ${response.status}`, false);
    }
    return Promise.race([readCapped(response), timedOut]);
  }
}

/** The answer's text, refused past MAX_ANSWER_BYTES (a webhook must not make a worker hold megabytes). */
async function readCapped(response: Response): Promise<string> {
  const declared = Number(response.headers.get("content-length") ?? 0);
  if (declared > MAX_ANSWER_BYTES) throw new NoAnswer(`answered more than ${MAX_ANSWER_BYTES / 1024} KiB`, false);
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (response.body) {
    for await (const chunk of response.body) {
      size += chunk.length;
      if (size > MAX_ANSWER_BYTES) throw new NoAnswer(`answered more than ${MAX_ANSWER_BYTES / 1024} KiB`, false);
      chunks.push(chunk);
    }
  }
  return Buffer.concat(chunks).toString("utf8");
}
