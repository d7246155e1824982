/**
 * @module
 * A webhook's answer read strictly: `{"allow": true}` or
 * `{"allow": false, "reason": "..."}`; enrich may add
 * `"subjectAltNames": ["a.example.com", "10.0.0.1"]` and
 * `"extensions": [{"oid": "1.2.3.4", "critical": false, "value": "<base64 DER>"}]`.
 * Anything else (not JSON, `allow` missing, a name that is no DNS name or
 * IP address, an authorize answer that adds) is the webhook's mistake,
 * thrown as `AnswerError`: the gate fails closed on it. Fields depot does
 * not know are ignored, so a receiver may say more.
 */
import { isDottedOid } from "../../ca/extension-oids.ts";
import { type GateExtension, safeReason } from "../../ca/issuance-gate.ts";
import { parseSubjectAltName, type SubjectAltName } from "../../ca/profiles.ts";
import { messageOf } from "../../errors.ts";

export type WebhookKind = "authorize" | "enrich";

export type WebhookAnswer = { allow: true; names: SubjectAltName[]; extensions: GateExtension[] } | { allow: false; reason: string };

/** An answer that says neither allow nor deny in the expected form. */
export class AnswerError extends Error {
  override name = "AnswerError";
}

/** At most this many names and extensions from one enrich answer. */
export const MAX_ADDED_NAMES = 100;
export const MAX_ADDED_EXTENSIONS = 20;
/** A DER value larger than this is refused (an extension is a few hundred bytes). */
const MAX_EXTENSION_BYTES = 8_192;

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function parseAnswer(text: string, kind: WebhookKind): WebhookAnswer {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new AnswerError("answered with a body that is not JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new AnswerError("answered with JSON that is not an object");
  const answer = parsed as Record<string, unknown>;
  if (typeof answer.allow !== "boolean") throw new AnswerError('answered without "allow": true or false');
  if (answer.reason !== undefined && typeof answer.reason !== "string") throw new AnswerError('answered a "reason" that is not a string');
  if (!answer.allow) return { allow: false, reason: safeReason((answer.reason as string | undefined) ?? "") };
  const adds = answer.subjectAltNames !== undefined || answer.extensions !== undefined;
  if (kind === "authorize" && adds) throw new AnswerError("answered names or extensions; only the enrich webhook adds them");
  return { allow: true, names: namesOf(answer.subjectAltNames), extensions: extensionsOf(answer.extensions) };
}

function namesOf(value: unknown): SubjectAltName[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((name) => typeof name !== "string")) throw new AnswerError('answered "subjectAltNames" that is not a list of strings');
  if (value.length > MAX_ADDED_NAMES) throw new AnswerError(`answered more than ${MAX_ADDED_NAMES} subjectAltNames`);
  return (value as string[]).map((name) => {
    try {
      return parseSubjectAltName(name);
    } catch (error) {
      throw new AnswerError(`answered a subjectAltName that is refused: ${messageOf(error)}`);
    }
  });
}

function extensionsOf(value: unknown): GateExtension[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new AnswerError('answered "extensions" that is not a list');
  if (value.length > MAX_ADDED_EXTENSIONS) throw new AnswerError(`answered more than ${MAX_ADDED_EXTENSIONS} extensions`);
  return value.map((item: unknown, index) => {
    const at = `extensions[${index}]`;
    if (typeof item !== "object" || item === null) throw new AnswerError(`answered ${at} that is not an object`);
    const { oid, critical, value: encoded } = item as Record<string, unknown>;
    if (typeof oid !== "string" || !isDottedOid(oid)) throw new AnswerError(`answered ${at}.oid that is not a dotted OID`);
    if (critical !== undefined && typeof critical !== "boolean") throw new AnswerError(`answered ${at}.critical that is not true or false`);
    if (typeof encoded !== "string" || encoded === "" || !BASE64.test(encoded)) throw new AnswerError(`answered ${at}.value that is not base64 (the extension's DER value)`);
    const valueDer = new Uint8Array(Buffer.from(encoded, "base64"));
    if (valueDer.length > MAX_EXTENSION_BYTES) throw new AnswerError(`answered ${at}.value larger than ${MAX_EXTENSION_BYTES} bytes`);
    return { oid, critical: critical === true, valueDer };
  });
}
