/**
 * @module
 * Issuing within a token's policy, for every route that issues X.509
 * certificates with a token (`POST /v1/certificates`, EST's
 * `simpleenroll`): the names the certificate would carry are checked
 * against the policy (403), only then is a one-time token's use taken, and
 * it goes back if nothing was issued. Names the enrich webhook adds are
 * held to the same policy (`withinPolicy`). The certificate's row and audit
 * record are committed by the services before this returns.
 */
import type { RequestedCertificate } from "../../ca/csr.ts";
import type { Issued } from "../../ca/depot.ts";
import type { DistinguishedName } from "../../ca/dn.ts";
import type { IssuanceFace } from "../../ca/issuance-gate.ts";
import type { KeyType } from "../../ca/key-types.ts";
import { serverNames, type SubjectAltName } from "../../ca/profiles.ts";
import type { Template } from "../../ca/templates.ts";
import { checkPolicy, compilePatterns } from "../../ca/token-policy.ts";
import type { TokenRecord } from "../../ca/tokens.ts";
import { usedUp } from "./auth.ts";
import type { Call } from "./call.ts";

/** What is asked for: a fresh key of `keyType`, or the key of a checked request (`requested`). */
export interface CertificateAsk {
  profile: "client" | "server";
  /** The template asked for (`askedTemplate`); absent: the built-in named by `profile`. */
  template?: Template;
  subject: DistinguishedName;
  /** Names beside the CN (server certificates only). */
  subjectAltNames: string[];
  keyType: string;
  days: number;
  requested?: RequestedCertificate;
  /** `api` (POST /v1/certificates) or `est` (simpleenroll), for the issuance gate. */
  face: IssuanceFace;
}

/** Checks the ask against the token's policy, takes a use, issues; a fresh key comes back with its private key. */
export async function issueWithinPolicy(call: Call, ask: CertificateAsk): Promise<Issued & { privateKeyPem?: string }> {
  const { token, services } = call;
  const { profile, subject, subjectAltNames, keyType, days, requested, face } = ask;
  const template = ask.template?.name;
  const commonName = subject.find((a) => a.name === "CN")?.value;
  const names = profile === "server" ? serverNames(commonName, subjectAltNames) : [];
  // Run again by the depot on the names an enrich webhook adds.
  const withinPolicy = (names: SubjectAltName[]) => checkPolicy(token.name, token.policy, { profile, subject, names, keyType, days, ...(template ? { template } : {}) }, patternsOf(token));
  withinPolicy(names);
  return withTokenUse(call, () => {
    // The template's own name rules and longest validity are the depot's to check (Depot.signPublicKey): 403 too.
    // The row goes in only while the token is unrevoked, checked where no revocation can slip in before the commit.
    const recordTerms = { condition: { tokenUnrevoked: { name: token.name, hash: token.hash } } };
    const common = { profile, subject, subjectAltNames, days, face, withinPolicy, recordTerms, ...(template ? { template } : {}) };
    return requested ? services.signCsr(requested, common, call.requester) : services.issue({ ...common, keyType: keyType as KeyType }, call.requester);
  });
}

/**
 * The template of a request: the one it names (`template`, an EST label),
 * else the token's first (`depot token create --template`), else none (the
 * built-in of its type). An unknown name is a 400; one the token may not
 * use is refused by its policy (403).
 */
export function askedTemplate(call: Pick<Call, "services" | "token">, name: string | undefined): Template | undefined {
  const chosen = name ?? call.token.policy.templates?.[0];
  return chosen === undefined ? undefined : call.services.templates.get(chosen);
}

/** The validity a request gets when it asks for none: the template's (else the depot's), within the token's longest. */
export function defaultDays(call: Pick<Call, "services" | "token">, template: Template | undefined): number {
  return Math.min(template?.days ?? call.services.defaultDays, call.token.policy.maxDays ?? Infinity);
}

/** Runs `work` with one of a one-time token's uses taken (401 when none is left), giving it back when `work` fails. */
export async function withTokenUse<T>(call: Call, work: () => Promise<T>): Promise<T> {
  const { token, services } = call;
  const usesCounted = token.usesLeft !== undefined;
  if (usesCounted && !(await services.tokens.takeUse(token.name))) throw usedUp(token);
  try {
    return await work();
  } catch (error) {
    // Nothing was issued: the use goes back.
    if (usesCounted) await services.tokens.returnUse(token.name).catch(() => {});
    throw error;
  }
}

/** Compiled patterns per token hash: a policy never changes after creation. */
const PATTERNS = new Map<string, ReturnType<typeof compilePatterns>>();
function patternsOf(token: TokenRecord): ReturnType<typeof compilePatterns> {
  let patterns = PATTERNS.get(token.hash);
  if (!patterns) {
    if (PATTERNS.size > 1000) PATTERNS.clear();
    PATTERNS.set(token.hash, (patterns = compilePatterns(token.policy.allow)));
  }
  return patterns;
}
