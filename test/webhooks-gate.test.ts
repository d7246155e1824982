// The issuance gate in the domain (Depot.signPublicKey, issueSshCertificate)
// with a fake gate: a denial signs nothing, uses no serial and is audited;
// names and extensions enrich adds reach the certificate (read by openssl),
// the ledger's audit record and the face's policy check; what enrich may
// not add fails closed; the audit chain verifies throughout.
import { beforeAll, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import "../src/store/open-ledger.ts";
import { createDepot } from "../src/ca/create.ts";
import { Depot } from "../src/ca/depot.ts";
import { parseDn } from "../src/ca/dn.ts";
import { type GateDecision, type GateRequest, GateUnavailable, IssuanceDenied, type IssuanceGate } from "../src/ca/issuance-gate.ts";
import type { SubjectAltName } from "../src/ca/profiles.ts";
import { issueSshCertificate } from "../src/ca/ssh/issue.ts";
import { createSshCas } from "../src/ca/ssh/ssh-ca.ts";
import { openssl, run, tempDir } from "./helpers.ts";
import { ensureTool } from "./tools.ts";

/** A gate that records what it was asked and answers what the test set. */
class FakeGate implements IssuanceGate {
  asked: { request: GateRequest; enrich: boolean | undefined }[] = [];
  answer: () => GateDecision = () => ({ addNames: [], addExtensions: [], notes: { authorize: "allowed" } });
  async decide(request: GateRequest, options?: { enrich?: boolean }): Promise<GateDecision> {
    this.asked.push({ request, enrich: options?.enrich });
    return this.answer();
  }
}

// 1.3.6.1.4.1.55555.1 holding UTF8String "team-blue".
const TEAM_OID = "1.3.6.1.4.1.55555.1";
const TEAM_VALUE = new Uint8Array([0x0c, 0x09, ...new TextEncoder().encode("team-blue")]);

let path: string;
let gate: FakeGate;
let depot: Depot;

beforeAll(async () => {
  path = join(tempDir(), "ca");
  await createDepot(path, { label: "Gate CA", keyType: "ec-p256" });
  gate = new FakeGate();
  depot = await Depot.open(path, { gate, enrichableExtensions: [TEAM_OID] });
});

const subject = parseDn("CN=web.example.com");
const auditOf = async () => (await depot.ledger.audit.after(0, 1000)).at(-1)!;

test("the gate is shown what would be signed: face, profile, subject as the ledger writes it, every name, key type, days, who asked", async () => {
  gate.answer = () => ({ addNames: [], addExtensions: [], notes: { authorize: "allowed" } });
  await depot.issue({ profile: "server", subject, subjectAltNames: ["10.0.0.5"], keyType: "ec-p256", days: 30, face: "api", requester: { requester: "token:web", client: "192.0.2.1" } });
  expect(gate.asked.at(-1)!.request).toEqual({
    face: "api",
    profile: "server",
    subject: "CN=web.example.com",
    subjectAltNames: [
      { type: "dns", value: "web.example.com" },
      { type: "ip", value: "10.0.0.5" },
    ],
    keyType: "ec-p256",
    days: 30,
    requester: "token:web",
    client: "192.0.2.1",
  });
  expect(await auditOf()).toMatchObject({ event: "issue", requester: "token:web", sans: ["10.0.0.5"], webhooks: { authorize: "allowed" } });
});

test("a denial signs nothing and uses no serial: the ledger holds as many certificates as before, and the audit chain holds the denial", async () => {
  gate.answer = () => {
    throw new IssuanceDenied("authorize", "web.example.com is frozen", { authorize: "denied" });
  };
  const before = await depot.ledger.count();
  const error = await depot.issue({ profile: "server", subject, face: "line", requester: { requester: "line", client: "127.0.0.1" } }).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(IssuanceDenied);
  expect((error as Error).message).toBe("issuance denied by the authorize webhook: web.example.com is frozen");
  expect(await depot.ledger.count()).toBe(before);
  const record = await auditOf();
  expect(record).toMatchObject({ event: "deny", requester: "line", client: "127.0.0.1", subject: "CN=web.example.com", sans: ["web.example.com"], profile: "server", reason: "web.example.com is frozen", webhooks: { authorize: "denied" } });
  expect(record.serial).toBeUndefined();
  expect(await depot.ledger.audit.verify()).toMatchObject({ ok: true });
});

test("a gate that cannot decide signs nothing either, and is not a denial in the audit", async () => {
  gate.answer = () => {
    throw new GateUnavailable("the authorize webhook did not answer within 300 ms");
  };
  const [count, seq] = [await depot.ledger.count(), await depot.ledger.audit.lastSeq()];
  const error = await depot.issue({ profile: "client", subject: parseDn("CN=Ann") }).catch((e: unknown) => e);
  expect((error as Error).message).toBe("the authorize webhook did not answer within 300 ms; nothing was issued, retry in 5 s");
  expect([await depot.ledger.count(), await depot.ledger.audit.lastSeq()]).toEqual([count, seq]);
});

test("enrich's names and extension are in the certificate (openssl), after depot's own extensions; the audit names them", async () => {
  gate.answer = () => ({
    addNames: [
      { type: "dns", value: "alias.example.com" },
      { type: "dns", value: "web.example.com" }, // already there: not twice
    ],
    addExtensions: [{ oid: TEAM_OID, critical: false, valueDer: TEAM_VALUE }],
    notes: { authorize: "allowed", enrich: { addedNames: ["alias.example.com", "web.example.com"], addedExtensions: [TEAM_OID] } },
  });
  const issued = await depot.issue({ profile: "server", subject, face: "api" });
  const file = join(tempDir(), "enriched.pem");
  writeFileSync(file, issued.certificatePem);
  expect(openssl(["verify", "-CAfile", join(path, "certificates", "ca.crt"), file]).stdout).toBe(`${file}: OK\n`);
  const text = openssl(["x509", "-in", file, "-noout", "-text"]).stdout;
  expect(text).toContain("DNS:web.example.com, DNS:alias.example.com\n");
  expect(text).toMatch(/1\.3\.6\.1\.4\.1\.55555\.1:\s*\n\s*\.\.team-blue/);
  // The profile's extensions first, the added one after them (the encoder writes the key identifiers last).
  const order = [...text.matchAll(/^ {12}(X509v3 [A-Za-z ]+|1\.3\.6\.1\.4\.1\.55555\.1):/gm)].map((m) => m[1]);
  expect(order).toEqual([
    "X509v3 Basic Constraints",
    "X509v3 Key Usage",
    "X509v3 Extended Key Usage",
    "X509v3 Subject Alternative Name",
    TEAM_OID,
    "X509v3 Subject Key Identifier",
    "X509v3 Authority Key Identifier",
  ]);
  const record = await auditOf();
  expect(record).toMatchObject({ event: "issue", serial: issued.serial, sans: ["alias.example.com", "web.example.com"], webhooks: { enrich: { addedExtensions: [TEAM_OID] } } });
});

test("a critical added extension is marked critical", async () => {
  gate.answer = () => ({ addNames: [], addExtensions: [{ oid: TEAM_OID, critical: true, valueDer: TEAM_VALUE }], notes: {} });
  const issued = await depot.issue({ profile: "client", subject: parseDn("CN=Bob") });
  const text = openssl(["x509", "-noout", "-text"], issued.certificatePem).stdout;
  expect(text).toContain(`${TEAM_OID}: critical`);
});

test("the face's policy sees every name after enrichment, and its refusal stops the issuance", async () => {
  gate.answer = () => ({ addNames: [{ type: "dns", value: "evil.example.net" }], addExtensions: [], notes: {} });
  const seen: SubjectAltName[][] = [];
  const before = await depot.ledger.count();
  const error = await depot
    .issue({
      profile: "server",
      subject,
      withinPolicy: (names) => {
        seen.push(names);
        if (names.some((n) => n.value.endsWith(".example.net"))) throw new Error("outside the token's policy");
      },
    })
    .catch((e: unknown) => e);
  expect((error as Error).message).toBe("outside the token's policy");
  expect(seen).toEqual([
    [
      { type: "dns", value: "web.example.com" },
      { type: "dns", value: "evil.example.net" },
    ],
  ]);
  expect(await depot.ledger.count()).toBe(before);
});

test("what enrich may not add fails closed, naming why: an OID not listed, one depot writes, twice, a value that is not DER", async () => {
  const before = await depot.ledger.count();
  const refusal = async (extensions: GateDecision["addExtensions"], request: { enrichableExtensions?: string[] } = {}) => {
    gate.answer = () => ({ addNames: [], addExtensions: extensions, notes: {} });
    const error = await depot.issue({ profile: "client", subject: parseDn("CN=Cy"), ...request }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GateUnavailable);
    return (error as Error).message.replace("; nothing was issued, retry in 5 s", "");
  };
  expect(await refusal([{ oid: "1.2.3.4", critical: false, valueDer: TEAM_VALUE }])).toBe(`the enrich webhook added extension 1.2.3.4, which it may not add (allowed: ${TEAM_OID})`);
  expect(await refusal([{ oid: TEAM_OID, critical: false, valueDer: TEAM_VALUE }], { enrichableExtensions: [] })).toBe(
    `the enrich webhook added extension ${TEAM_OID}, which it may not add (no extension is enrichable; see --webhook-extension)`,
  );
  expect(await refusal([{ oid: "2.5.29.19", critical: true, valueDer: new Uint8Array([0x30, 0x03, 0x01, 0x01, 0xff]) }], { enrichableExtensions: ["2.5.29.19"] })).toBe(
    "the enrich webhook added extension 2.5.29.19, which depot writes itself",
  );
  expect(await refusal([{ oid: TEAM_OID, critical: false, valueDer: TEAM_VALUE }, { oid: TEAM_OID, critical: false, valueDer: TEAM_VALUE }])).toBe(`the enrich webhook added extension ${TEAM_OID}, twice`);
  expect(await refusal([{ oid: TEAM_OID, critical: false, valueDer: new Uint8Array([0x0c, 0x09, 0x41]) }])).toBe(`the enrich webhook added extension ${TEAM_OID}, whose value is not one DER element`);
  expect(await refusal([{ oid: TEAM_OID, critical: false, valueDer: new Uint8Array([...TEAM_VALUE, 0x05, 0x00]) }])).toBe(`the enrich webhook added extension ${TEAM_OID}, whose value is not one DER element`);
  expect(await depot.ledger.count()).toBe(before);
});

test("bad input is refused before the gate is asked", async () => {
  const asked = gate.asked.length;
  const error = await depot.issue({ profile: "server", subject: parseDn("CN=Not a host name") }).catch((e: unknown) => e);
  expect((error as Error).message).toBe("a server certificate needs a DNS name or IP address: give it as --cn or --san");
  const tooLong = await depot.issue({ profile: "client", subject: parseDn("CN=Dee"), days: 100_000 }).catch((e: unknown) => e);
  expect((tooLong as Error).message).toContain("the certificate would outlive the CA");
  expect(gate.asked.length).toBe(asked);
});

test("SSH certificates ask the gate too (authorize only, principals as names); a denial records nothing but the denial", async () => {
  ensureTool("ssh-keygen", "openssh-client");
  const [ca] = (await createSshCas(path, { keyType: "ed25519" })).filter((c) => c.kind === "user");
  const keyDir = tempDir();
  expect(run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", join(keyDir, "id")]).exitCode).toBe(0);
  const publicKey = (await Bun.file(join(keyDir, "id.pub")).text()).trim();
  const gated = { gate, audit: depot.ledger.audit };
  gate.answer = () => ({ addNames: [], addExtensions: [], notes: { authorize: "allowed" } });
  const issued = await issueSshCertificate(depot.ledger.ssh, ca!, { publicKey, kind: "user", principals: ["ann", "deploy"], requester: { requester: "token:ops" } }, new Date(), gated);
  expect(gate.asked.at(-1)).toMatchObject({
    enrich: false,
    request: { face: "ssh", profile: "user", subject: "ann", subjectAltNames: [{ type: "principal", value: "ann" }, { type: "principal", value: "deploy" }], keyType: "ssh-ed25519", requester: "token:ops" },
  });
  expect(await auditOf()).toMatchObject({ event: "ssh-issue", serial: issued.serial, webhooks: { authorize: "allowed" } });
  gate.answer = () => {
    throw new IssuanceDenied("authorize", "no root logins", { authorize: "denied" });
  };
  const listed = (await depot.ledger.ssh.list()).length;
  const error = await issueSshCertificate(depot.ledger.ssh, ca!, { publicKey, kind: "user", principals: ["root"], requester: { requester: "token:ops" } }, new Date(), gated).catch((e: unknown) => e);
  expect((error as Error).message).toBe("issuance denied by the authorize webhook: no root logins");
  expect((await depot.ledger.ssh.list()).length).toBe(listed);
  expect(await auditOf()).toMatchObject({ event: "deny", subject: "root", sans: ["root"], profile: "user", reason: "no root logins" });
  expect(await depot.ledger.audit.verify()).toMatchObject({ ok: true });
});
