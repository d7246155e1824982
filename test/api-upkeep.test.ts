// The upkeep process's duties for the API: the HTTPS certificate (made once, reused, renewed at two thirds of its life) and the audit log file (resumed after its last line).
import { expect, test } from "bun:test";
import { appendFileSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AuditFile, AuditForwarder, lastSeqInFile } from "../src/ca/audit-file.ts";
import { createDepot } from "../src/ca/create.ts";
import { Depot } from "../src/ca/depot.ts";
import { HTTPS_CERTIFICATE_DAYS, HttpsCertificateKeeper } from "../src/server/https-certificate.ts";
import { openssl, tempDir } from "./helpers.ts";

async function openDepot(): Promise<Depot> {
  const path = join(tempDir(), "ca");
  await createDepot(path, { keyType: "ec-p256" });
  return Depot.open(path);
}

test("the HTTPS certificate: issued once for its names, reused while good, replaced at two thirds of its life or for other names", async () => {
  const depot = await openDepot();
  try {
    const keeper = new HttpsCertificateKeeper(depot, ["localhost", "127.0.0.1", "::1"]);
    const first = await keeper.ensure();
    expect(first.issued).toBe(true);
    expect(statSync(first.keyPath).mode & 0o777).toBe(0o600);
    expect(openssl(["verify", "-CAfile", depot.layout.caCertificate, first.certPath]).stdout.trim()).toBe(`${first.certPath}: OK`);
    expect(openssl(["x509", "-in", first.certPath, "-noout", "-ext", "subjectAltName"]).stdout).toContain("DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1");
    expect(openssl(["x509", "-in", first.certPath, "-noout", "-ext", "extendedKeyUsage"]).stdout).toContain("TLS Web Server Authentication");
    // Renewed with a third of its life left.
    expect(Math.round((first.notAfter.getTime() - first.renewAt.getTime()) / 86_400_000)).toBe(HTTPS_CERTIFICATE_DAYS / 3);

    expect((await keeper.ensure()).issued).toBe(false);
    expect(await keeper.renewIfDue(new Date(first.renewAt.getTime() - 1000))).toBeUndefined();
    const before = readFileSync(first.certPath, "utf8");
    const renewed = await keeper.renewIfDue(new Date(first.renewAt.getTime() + 1000));
    expect(renewed?.issued).toBe(true);
    expect(readFileSync(first.certPath, "utf8")).not.toBe(before);

    const other = await new HttpsCertificateKeeper(depot, ["localhost", "ca.example.net"]).ensure();
    expect(other.issued).toBe(true);
    const audited = (await depot.ledger.audit.after(0, 100)).filter((r) => r.event === "issue");
    expect(audited.map((r) => r.requester)).toEqual(["server", "server", "server"]);
  } finally {
    depot.close();
  }
});

test("the audit log file: appended 0600; a restart resumes after its last complete line, even a torn one", async () => {
  const dir = tempDir();
  const path = join(dir, "audit.log");
  expect(lastSeqInFile(path)).toBeUndefined();
  const file = new AuditFile(path);
  file.append(['{"seq":1,"event":"issue"}', '{"seq":2,"event":"revoke"}']);
  file.close();
  expect(statSync(path).mode & 0o777).toBe(0o600);
  expect(lastSeqInFile(path)).toBe(2);
  appendFileSync(path, '{"seq":3,"ev');
  expect(lastSeqInFile(path)).toBe(2);
  writeFileSync(path, "");
  expect(lastSeqInFile(path)).toBeUndefined();
});

test("the forwarder hands on records after a seq, or from the newest one when the file is new", async () => {
  const depot = await openDepot();
  try {
    for (const name of ["a", "b", "c"]) await depot.ledger.audit.append({ event: "token-create", requester: "cli", token: name });
    const lines: string[] = [];
    const fromHead = await AuditForwarder.start(depot.ledger.audit, -1);
    expect(await fromHead.forward((batch) => lines.push(...batch))).toBe(0);
    await depot.ledger.audit.append({ event: "token-revoke", requester: "cli", token: "a" });
    expect(await fromHead.forward((batch) => lines.push(...batch))).toBe(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ seq: 4, event: "token-revoke" });
    const resumed: string[] = [];
    await (await AuditForwarder.start(depot.ledger.audit, 2)).forward((batch) => resumed.push(...batch));
    expect(resumed.map((line) => JSON.parse(line).seq)).toEqual([3, 4]);
  } finally {
    depot.close();
  }
});
