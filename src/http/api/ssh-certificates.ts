/**
 * @module
 * `POST /v1/ssh/certificates`: an SSH user or host certificate for a public
 * key the client sends, within the token's SSH policy (kinds, principals,
 * key ids, validity). Checked with the library's own rules first (400), then
 * the policy (403); only then is a one-time token's use taken and the
 * certificate signed and recorded.
 */
import { parseReason } from "../../ca/crl.ts";
import { checkSshRequest, DEFAULT_SSH_VALIDITY_MS } from "../../ca/ssh/issue.ts";
import { sshPolicyRefusal } from "../../ca/ssh/policy.ts";
import { PolicyRefusal } from "../../ca/token-policy.ts";
import { parseDuration } from "../../ca/tokens.ts";
import { HttpProblem } from "../problem.ts";
import { requireAdmin } from "./auth.ts";
import { readJsonObject, rejectUnknownFields, stringField } from "./body.ts";
import { type Call, json } from "./certificates.ts";
import { withTokenUse } from "./issue.ts";

const FIELDS = ["type", "publicKey", "principals", "keyId", "valid", "forceCommand", "sourceAddress", "extensions"] as const;

const bad = (detail: string) => new HttpProblem(400, detail, { slug: "bad-request" });

function stringList(body: Record<string, unknown>, name: string): string[] | undefined {
  const value = body[name];
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) throw bad(`${name} must be a list of strings`);
  return value as string[];
}

export async function issueSshCertificate(call: Call): Promise<Response> {
  const { services, token } = call;
  if (!services.signSsh) throw new HttpProblem(404, "this server signs no SSH certificates", { slug: "not-found" });
  const body = await readJsonObject(call.request);
  rejectUnknownFields(body, FIELDS);
  const policy = token.policy.ssh;
  const type = stringField(body, "type") ?? (policy?.kinds.length === 1 ? policy.kinds[0] : undefined);
  if (type !== "user" && type !== "host") throw bad(type === undefined ? "missing type (user or host)" : `unknown type '${type.slice(0, 40)}' (user or host)`);
  const publicKey = stringField(body, "publicKey");
  if (publicKey === undefined) throw bad("missing publicKey (the key to certify, one line as in id_ed25519.pub)");
  const valid = stringField(body, "valid");
  const forceCommand = stringField(body, "forceCommand");
  const sourceAddress = stringList(body, "sourceAddress");
  const extensions = stringList(body, "extensions");
  const keyId = stringField(body, "keyId");
  const request = checkSshRequest({
    publicKey,
    kind: type,
    principals: stringList(body, "principals") ?? [],
    ...(keyId !== undefined ? { keyId } : {}),
    // Unasked, the depot's default, capped at the token's longest (as days are for X.509).
    validityMs: valid !== undefined ? parseDuration(valid) : Math.min(DEFAULT_SSH_VALIDITY_MS[type], policy?.maxValidityMs ?? Infinity),
    ...(forceCommand !== undefined || sourceAddress ? { criticalOptions: { ...(forceCommand !== undefined ? { forceCommand } : {}), ...(sourceAddress ? { sourceAddress } : {}) } } : {}),
    ...(extensions ? { extensions } : {}),
    requester: call.requester,
  });
  const refusal = sshPolicyRefusal(policy, request);
  if (refusal) throw new PolicyRefusal(`token '${token.name}' does not allow ${refusal}`);

  const signSsh = services.signSsh;
  const record = await withTokenUse(call, () => signSsh(request));
  return json(
    {
      serial: record.serial,
      type: record.kind,
      keyId: record.keyId,
      principals: record.principals,
      keyType: record.keyType,
      keyFingerprint: record.keyFingerprint,
      validAfter: record.validAfter.toISOString(),
      validBefore: record.validBefore.toISOString(),
      certificate: record.certificate,
    },
    201,
  );
}

/** `POST /v1/ssh/certificates/{serial}/revoke` (admin): the ledger row at once, the KRL within the upkeep's next poll. */
export async function revokeSshCertificate(call: Call, serialText: string): Promise<Response> {
  requireAdmin(call.token, "revoking SSH certificates");
  if (!call.services.revokeSsh) throw new HttpProblem(404, "this server keeps no SSH certificates", { slug: "not-found" });
  const body = await readJsonObject(call.request, true);
  rejectUnknownFields(body, ["reason"]);
  const reason = parseReason(stringField(body, "reason") ?? "unspecified");
  if (!/^\d{1,20}$/.test(serialText) || BigInt(serialText) === 0n || BigInt(serialText) > 0xffff_ffff_ffff_ffffn) {
    throw bad(`'${serialText.slice(0, 40)}' is not an SSH certificate serial (decimal, as ssh-keygen -L prints it)`);
  }
  const record = await call.services.revokeSsh(BigInt(serialText).toString(), reason, call.requester);
  return json({ serial: record.serial, type: record.kind, keyId: record.keyId, status: "revoked", revokedAt: record.revokedAt?.toISOString(), reason }, 200);
}
