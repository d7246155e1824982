// SCEP (RFC 8894) on a real `depot start --http-port --https-port`, driven with certmonger's own SCEP helper (Debian's certmonger, /usr/lib/certmonger/scep-submit) as the certmonger daemon runs it, without the daemon: its CERTMONGER_* variables or its options, the pkiMessage made as the daemon makes it (openssl for the key, the CSR with its challengePassword, the self-signed signer and the envelope; test/scep-client.ts). scep-submit checks the CertRep's signature against the CA (OpenSSL), its transactionID and recipientNonce; openssl decrypts the envelope and verifies the certificate; the ledger and the audit chain hold it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DEPOT_BIN, depot, depotOk, run, tempDir } from "./helpers.ts";
import { TEMPLATES } from "./template-fixtures.ts";
import { base64Of, checkedByOpenssl, envelopeFor, makeRequest, pkiMessage, SCEP_SUBMIT, sh } from "./scep-client.ts";
import { freePort, type RunningServer, startServer, waitFor } from "./server-helpers.ts";
import { ensureProgram, ensureTool } from "./tools.ts";

let dir: string;
let path: string;
let server: RunningServer;
let httpPort: number;
let httpsPort: number;
const httpUrl = () => `http://127.0.0.1:${httpPort}/scep`;

beforeAll(async () => {
  ensureProgram(SCEP_SUBMIT, "certmonger", { startsNoService: true });
  ensureTool("curl", "curl");
  dir = tempDir("depot-scep-");
  httpPort = freePort();
  httpsPort = freePort();
  server = await startServer(["--http-port", String(httpPort), "--https-port", String(httpsPort)], {
    keyType: "ec-p256",
    beforeStart: (depotPath) => appendFileSync(join(depotPath, "depot.cnf"), TEMPLATES),
  });
  await server.ready;
  path = server.depotPath;
  // The RA made while the server runs: its workers load it on the first SCEP request.
  depotOk(["scep", "init", path]);
  writeFileSync(join(dir, "ca.crt"), readFileSync(join(path, "certificates", "ca.crt")));
}, 300_000);

afterAll(async () => {
  server?.process.kill("SIGQUIT");
  await server?.process.exited;
});

/** scep-submit with `args` and the environment the certmonger daemon would give it. */
function scepSubmit(args: string[], env: Record<string, string> = {}) {
  return run([SCEP_SUBMIT, ...args], { cwd: dir, env: { ...process.env, ...env } as Record<string, string> });
}

function challenge(name: string, ...flags: string[]): string {
  return depotOk(["scep", "challenge", "create", path, "--name", name, ...flags]).trim();
}

/** An enrolment sent as certmonger's daemon sends it: CERTMONGER_OPERATION=SUBMIT, the message in CERTMONGER_PKCSREQ, the RA and CA certificates in their variables. */
function submit(name: string, messageDer: Uint8Array, url = httpUrl(), extra: string[] = []) {
  return scepSubmit(["-u", url, ...extra], {
    CERTMONGER_OPERATION: "SUBMIT",
    CERTMONGER_PKCSREQ: base64Of(messageDer),
    CERTMONGER_SCEP_RA_CERTIFICATE: readFileSync(join(dir, "ra.pem"), "utf8"),
    CERTMONGER_SCEP_CA_CERTIFICATE: readFileSync(join(dir, "ca.crt"), "utf8"),
  });
}

/** A PKCSReq for `name` (a new key, its self-signed certificate as the signer). */
function pkcsReq(name: string, subject: string, password: string | undefined, transactionId: string): Uint8Array {
  makeRequest(dir, name, subject, password);
  const { der } = pkiMessage(dir, { messageType: "19", transactionId, envelope: envelopeFor(dir, `${name}.csr.der`, "ra.pem"), certificate: `${name}.self.crt`, key: `${name}.key` });
  checkedByOpenssl(dir, name, der);
  return der;
}

/** The certificate in scep-submit's output (the pkcsPKIEnvelope, PEM): decrypted by openssl with the requester's key, read from its certs-only PKCS#7. */
function certificateFrom(name: string, envelopePem: string, signer = `${name}.self.crt`, key = `${name}.key`): string {
  writeFileSync(join(dir, `${name}.env.pem`), envelopePem.replace(/PKCS7-----/g, "CMS-----"));
  sh(dir, `openssl cms -decrypt -inform PEM -in ${name}.env.pem -recip ${signer} -inkey ${key} -binary -out ${name}.p7.der
openssl pkcs7 -inform DER -in ${name}.p7.der -print_certs -out ${name}.crt`);
  return readFileSync(join(dir, `${name}.crt`), "utf8");
}

/** A serial to compare: the ledger keeps a leading zero digit (0f...), openssl pads to whole bytes (0F..., 008F...). */
const bareSerial = (hex: string) => hex.toUpperCase().replace(/^0+/, "");

function serialOf(certificateFile: string): string {
  return sh(dir, `openssl x509 -in ${certificateFile} -noout -serial`).trim().replace(/^serial=/, "");
}

function audit(): Record<string, unknown>[] {
  return depotOk(["audit", "export", path]).trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>);
}

/**
 * One device's enrolment at another server's `url` (depot `root`), in the
 * folder `name` under the test's: GetCACert, a challenge, the PKCSReq sent
 * by scep-submit as the daemon sends it, the certificate opened into
 * `device.crt`. Returns that folder.
 */
function enrolElsewhere(root: string, url: string, name: string, subject: string, challengeFlags: string[] = []): string {
  const sub = join(dir, name);
  sh(dir, `mkdir -p ${name}`);
  writeFileSync(join(sub, "ca.crt"), readFileSync(join(root, "certificates", "ca.crt")));
  const certs = run([SCEP_SUBMIT, "-C", "-u", url]);
  expect(certs.exitCode).toBe(0);
  writeFileSync(join(sub, "cacerts.pem"), certs.stdout);
  sh(sub, "awk '/BEGIN/{n++} n==1' cacerts.pem > ra.pem");
  const password = depotOk(["scep", "challenge", "create", root, "--name", `${name}-device`, ...challengeFlags]).trim();
  makeRequest(sub, "device", subject, password);
  const { der } = pkiMessage(sub, { messageType: "19", transactionId: `TX-${name}`, envelope: envelopeFor(sub, "device.csr.der", "ra.pem"), certificate: "device.self.crt", key: "device.key" });
  const answer = run([SCEP_SUBMIT, "-u", url], {
    env: { CERTMONGER_OPERATION: "SUBMIT", CERTMONGER_PKCSREQ: base64Of(der), CERTMONGER_SCEP_RA_CERTIFICATE: readFileSync(join(sub, "ra.pem"), "utf8"), CERTMONGER_SCEP_CA_CERTIFICATE: readFileSync(join(sub, "ca.crt"), "utf8") },
  });
  expect(`${answer.exitCode} ${answer.stderr}`).toStartWith("0 ");
  writeFileSync(join(sub, "device.env.pem"), answer.stdout.replace(/PKCS7-----/g, "CMS-----"));
  sh(sub, "openssl cms -decrypt -inform PEM -in device.env.pem -recip device.self.crt -inkey device.key -binary | openssl pkcs7 -inform DER -print_certs -out device.crt");
  return sub;
}

describe("SCEP over plain HTTP with certmonger's scep-submit", () => {
  test("GetCACaps: what depot does, one per line", () => {
    const caps = scepSubmit(["-c", "-u", httpUrl()]);
    expect(caps.exitCode).toBe(0);
    expect(caps.stdout.trim().split("\n")).toEqual(["POSTPKIOperation", "SHA-256", "SHA-512", "AES", "DES3", "Renewal", "SCEPStandard"]);
  });

  test("GetCACert: the RA certificate (RSA, keyEncipherment, from the CA, in the ledger) then the CA certificate, as application/x-x509-ca-ra-cert", () => {
    const certs = scepSubmit(["-C", "-u", httpUrl()]);
    expect(certs.exitCode).toBe(0);
    writeFileSync(join(dir, "cacerts.pem"), certs.stdout);
    sh(dir, "awk '/BEGIN/{n++} n==1' cacerts.pem > ra.pem; awk '/BEGIN/{n++} n==2' cacerts.pem > ca-from-scep.pem");
    expect(sh(dir, "openssl x509 -in ca-from-scep.pem -outform DER | openssl dgst -sha256 -r")).toBe(sh(dir, "openssl x509 -in ca.crt -outform DER | openssl dgst -sha256 -r"));
    expect(sh(dir, "openssl verify -CAfile ca.crt ra.pem")).toBe("ra.pem: OK\n");
    expect(sh(dir, "openssl x509 -in ra.pem -noout -subject -ext keyUsage")).toContain("Key Encipherment");
    expect(sh(dir, "openssl x509 -in ra.pem -noout -pubkey | openssl pkey -pubin -noout -text | head -1")).toContain("Public-Key: (2048 bit)");
    expect(readFileSync(join(dir, "ra.pem"), "utf8")).toBe(readFileSync(join(path, "scep_ra.crt"), "utf8"));
    expect(depotOk(["show", path, serialOf("ra.pem")])).toContain("depot SCEP RA");
    const headers = sh(dir, `curl -sS -D - -o /dev/null '${httpUrl()}?operation=GetCACert'`);
    expect(headers).toMatch(/content-type: application\/x-x509-ca-ra-cert/i);
  });

  let enrolled: { serial: string; transactionId: string; messageDer: Uint8Array };

  test("PKCSReq with a challenge: the certificate comes back encrypted to the requester, openssl verifies it, the ledger row and audit record name scep:<challenge> and the transactionID", () => {
    const password = challenge("printer-7", "--allow", "cn:printer-*", "--allow", "o:Print Room");
    const messageDer = pkcsReq("printer7", "/CN=printer-7/O=Print Room", password, "7A1B2C3D4E5F60718293A4B5C6D7E8F901234567");
    const answer = submit("printer7", messageDer);
    expect(`${answer.exitCode} ${answer.stdout.slice(0, 200)} ${answer.stderr}`).toStartWith("0 ");
    certificateFrom("printer7", answer.stdout);
    expect(sh(dir, "openssl verify -CAfile ca.crt printer7.crt")).toBe("printer7.crt: OK\n");
    expect(sh(dir, "openssl x509 -in printer7.crt -noout -subject")).toBe("subject=CN = printer-7, O = Print Room\n");
    // The key is the requester's own: the certificate's public key is the CSR's.
    expect(sh(dir, "openssl x509 -in printer7.crt -noout -pubkey")).toBe(sh(dir, "openssl pkey -in printer7.key -pubout"));
    const serial = serialOf("printer7.crt");
    // The ledger holds this very certificate.
    expect(depotOk(["show", path, serial])).toContain(sh(dir, "openssl x509 -in printer7.crt").trim());
    const record = audit().find((entry) => entry.event === "issue" && bareSerial(String(entry.serial)) === bareSerial(serial));
    expect(record).toMatchObject({ requester: "scep:printer-7", client: "127.0.0.1", transaction: "7A1B2C3D4E5F60718293A4B5C6D7E8F901234567", profile: "client" });
    expect(depotOk(["audit", "verify", path])).toContain("intact");
    enrolled = { serial, transactionId: "7A1B2C3D4E5F60718293A4B5C6D7E8F901234567", messageDer };
  });

  test("a challenge made with --template issues under it: the template's EKU and validity; the ledger and audit name it; a name outside its rules is FAILURE badRequest", () => {
    // vpn-client (template-fixtures.ts): clientAuth, 90 days, names cn:vpn-*, digitalSignature only.
    expect(depot(["scep", "challenge", "create", path, "--template", "no-such"]).stderr).toContain("no template named 'no-such'");
    const password = challenge("vpn-laptop", "--template", "vpn-client");
    const answer = submit("vpnlaptop", pkcsReq("vpnlaptop", "/CN=vpn-laptop-3", password, "5C".repeat(20)));
    expect(`${answer.exitCode} ${answer.stderr}`).toStartWith("0 ");
    certificateFrom("vpnlaptop", answer.stdout);
    expect(sh(dir, "openssl verify -CAfile ca.crt -purpose sslclient vpnlaptop.crt")).toBe("vpnlaptop.crt: OK\n");
    const text = sh(dir, "openssl x509 -in vpnlaptop.crt -noout -ext extendedKeyUsage,keyUsage -startdate -enddate");
    expect(text).toContain("TLS Web Client Authentication");
    expect(text).not.toContain("TLS Web Server Authentication");
    const [start, end] = [/notBefore=(.*)/.exec(text)![1]!, /notAfter=(.*)/.exec(text)![1]!].map((d) => Date.parse(d));
    expect(Math.round((end! - start!) / 86_400_000)).toBe(90);
    const serial = serialOf("vpnlaptop.crt");
    expect(depotOk(["show", path, serial])).toContain("vpn-client");
    expect(audit().find((entry) => entry.event === "issue" && entry.requester === "scep:vpn-laptop")).toMatchObject({ template: "vpn-client", profile: "client" });
    // The template's name rules hold for SCEP as for every face.
    const outside = submit("vpnother", pkcsReq("vpnother", "/CN=printer-9", challenge("vpn-other", "--template", "vpn-client"), "5D".repeat(20)));
    expect(outside.exitCode).toBe(2);
  });

  test("the same PKCSReq sent again (its answer lost) gets the same certificate, and takes no second use", () => {
    const answer = submit("printer7", enrolled.messageDer);
    expect(answer.exitCode).toBe(0);
    certificateFrom("printer7-again", answer.stdout, "printer7.self.crt", "printer7.key");
    expect(serialOf("printer7-again.crt")).toBe(enrolled.serial);
  });

  test("GetCertInitial (a poll, scep-submit -g) gets the certificate of its transaction; a poll for an unknown one is FAILURE badCertId", () => {
    // The poll's content is IssuerAndSubject, encrypted to the RA like a request.
    writeFileSync(join(dir, "ias.der"), issuerAndSubject());
    const poll = pkiMessage(dir, { messageType: "20", transactionId: enrolled.transactionId, envelope: envelopeFor(dir, "ias.der", "ra.pem"), certificate: "printer7.self.crt", key: "printer7.key" });
    checkedByOpenssl(dir, "poll", poll.der);
    writeFileSync(join(dir, "poll.b64"), base64Of(poll.der));
    const answer = scepSubmit(["-g", "-u", httpUrl(), "-r", "ra.pem", "-N", "ca.crt", "poll.b64"]);
    expect(answer.exitCode).toBe(0);
    certificateFrom("polled", answer.stdout, "printer7.self.crt", "printer7.key");
    expect(serialOf("polled.crt")).toBe(enrolled.serial);

    const unknown = pkiMessage(dir, { messageType: "20", transactionId: "NO-SUCH-TRANSACTION", envelope: envelopeFor(dir, "ias.der", "ra.pem"), certificate: "printer7.self.crt", key: "printer7.key" });
    writeFileSync(join(dir, "unknown.b64"), base64Of(unknown.der));
    const refused = scepSubmit(["-g", "-u", httpUrl(), "-r", "ra.pem", "-N", "ca.crt", "unknown.b64"]);
    expect(refused.exitCode).toBe(2);
    expect(refused.stdout).toContain('failure code "4"');
  });

  test("a used challenge is refused with FAILURE badRequest (scep-submit exits 2), the reason in the server log, nothing issued", async () => {
    const before = validCount();
    const password = challenge("once-only");
    expect(submit("first", pkcsReq("first", "/CN=first", password, "TX-FIRST")).exitCode).toBe(0);
    const second = submit("second", pkcsReq("second", "/CN=second", password, "TX-SECOND"));
    expect(second.exitCode).toBe(2);
    expect(second.stdout).toContain("Transaction either is not permitted or is not supported by server.");
    await waitFor(() => server.log().includes("SCEP challenge 'once-only' is used up"), 5000, () => `log:\n${server.log()}`);
    expect(validCount()).toBe(before + 1);
  });

  test("an expired challenge, an unknown password, an API token and a name outside the challenge's policy are each FAILURE badRequest", async () => {
    const expired = challenge("short-lived", "--expires", "1s");
    await Bun.sleep(1200);
    const apiToken = depotOk(["token", "create", path, "--name", "api-one", "--uses", "1"]).trim();
    const limited = challenge("printers-only", "--allow", "cn:printer-*");
    const cases: [string, string, string][] = [
      ["late", expired, "SCEP challenge 'short-lived' is expired"],
      ["guess", "0123456789abcdef0123456789abcdef01234567", "is not a SCEP challenge of this depot"],
      ["apitoken", apiToken, "is not a SCEP challenge of this depot"],
      ["outside", limited, "does not allow CN=laptop-1"],
    ];
    for (const [name, password, reason] of cases) {
      const answer = submit(name, pkcsReq(name, name === "outside" ? "/CN=laptop-1" : `/CN=${name}`, password, `TX-${name}`));
      expect(answer.exitCode).toBe(2);
      await waitFor(() => server.log().includes(reason), 5000, () => `no '${reason}' in the log:\n${server.log()}`);
    }
    // The challenge refused for its policy keeps its one use.
    expect(depotOk(["scep", "challenge", "list", path])).toMatch(/printers-only\s+active\s+.*1\/1 uses left/);
  });

  test("a SCEP challenge is no API token: the HTTPS API answers 401", () => {
    const password = challenge("not-for-the-api");
    const answer = sh(dir, `curl -sS --cacert ca.crt -H 'Authorization: Bearer ${password}' https://localhost:${httpsPort}/v1/certificates`);
    expect(JSON.parse(answer)).toMatchObject({ status: 401, detail: "'not-for-the-api' is a SCEP challenge password, not an API token" });
  });

  test("RenewalReq signed by the issued certificate, for a new key: a new certificate with the subject kept, audited as renew:<old serial>", () => {
    makeRequest(dir, "renewal", "/CN=printer-7/O=Print Room");
    const { der } = pkiMessage(dir, { messageType: "17", transactionId: "TX-RENEW-1", envelope: envelopeFor(dir, "renewal.csr.der", "ra.pem"), certificate: "printer7.crt", key: "printer7.key" });
    checkedByOpenssl(dir, "renewal", der);
    writeFileSync(join(dir, "renewal.b64"), base64Of(der));
    // scep-submit sends any pkiMessage with -p (it warns that a RenewalReq is neither PKCSReq nor GetCertInitial).
    const answer = scepSubmit(["-p", "-u", httpUrl(), "-r", "ra.pem", "-N", "ca.crt", "renewal.b64"]);
    expect(answer.exitCode).toBe(0);
    certificateFrom("renewed", answer.stdout, "printer7.crt", "printer7.key");
    expect(sh(dir, "openssl verify -CAfile ca.crt renewed.crt")).toBe("renewed.crt: OK\n");
    expect(sh(dir, "openssl x509 -in renewed.crt -noout -subject")).toBe("subject=CN = printer-7, O = Print Room\n");
    expect(sh(dir, "openssl x509 -in renewed.crt -noout -pubkey")).toBe(sh(dir, "openssl pkey -in renewal.key -pubout"));
    const serial = serialOf("renewed.crt");
    expect(serial).not.toBe(enrolled.serial);
    const record = audit().find((entry) => entry.event === "issue" && bareSerial(String(entry.serial)) === bareSerial(serial));
    expect(record).toMatchObject({ transaction: "TX-RENEW-1" });
    expect(String(record!.requester).replace(/^renew:0+/, "renew:")).toBe(`renew:${bareSerial(enrolled.serial)}`);
  });

  test("a RenewalReq signed by a certificate depot never issued is FAILURE badCertId", () => {
    makeRequest(dir, "stranger", "/CN=stranger");
    const { der } = pkiMessage(dir, { messageType: "17", transactionId: "TX-STRANGER", envelope: envelopeFor(dir, "stranger.csr.der", "ra.pem"), certificate: "stranger.self.crt", key: "stranger.key" });
    writeFileSync(join(dir, "stranger.b64"), base64Of(der));
    const answer = scepSubmit(["-p", "-u", httpUrl(), "-r", "ra.pem", "-N", "ca.crt", "stranger.b64"]);
    expect(answer.exitCode).toBe(2);
    expect(answer.stdout).toContain('failure code "4"');
  });

  test("bytes that are no SCEP message are a 400 problem document, and the workers keep serving", () => {
    const garbage = sh(dir, `head -c 300 /dev/urandom > junk.bin; curl -sS -H 'Content-Type: application/x-pki-message' --data-binary @junk.bin -w '\\n%{http_code}' '${httpUrl()}?operation=PKIOperation'`);
    expect(garbage.trim().split("\n").at(-1)).toBe("400");
    const truncated = sh(dir, `head -c 200 printer7.p7m > cut.bin; curl -sS -H 'Content-Type: application/x-pki-message' --data-binary @cut.bin '${httpUrl()}?operation=PKIOperation'`);
    expect(JSON.parse(truncated)).toMatchObject({ status: 400 });
    expect(JSON.parse(sh(dir, `curl -sS '${httpUrl()}?operation=PKIOperation&message=%25%25%25'`))).toMatchObject({ status: 400, detail: "message is not base64" });
    expect(JSON.parse(sh(dir, `curl -sS '${httpUrl()}?operation=Nonsense'`))).toMatchObject({ status: 400 });
    expect(scepSubmit(["-c", "-u", httpUrl()]).exitCode).toBe(0);
  });
});

describe("SCEP over HTTPS", () => {
  test("GetCACaps and GetCACert by scep-submit given the CA for TLS (-R); a PKIOperation POSTed by curl, its CertRep checked and opened by openssl", () => {
    const url = `https://localhost:${httpsPort}/scep`;
    expect(scepSubmit(["-c", "-u", url, "-R", "ca.crt"]).stdout).toContain("POSTPKIOperation");
    const certs = scepSubmit(["-C", "-u", url, "-R", "ca.crt"]);
    expect(certs.exitCode).toBe(0);
    expect(certs.stdout).toBe(readFileSync(join(dir, "cacerts.pem"), "utf8"));
    // scep-submit makes its PKIOperation request without -R's CA (its second request passes no CA file to
    // libcurl), so over HTTPS with a private CA the message goes by curl, as RFC 8894 4.3's POST.
    writeFileSync(join(dir, "tls1.der"), pkcsReq("tls1", "/CN=tls1", challenge("over-tls"), "TX-TLS-1"));
    sh(dir, `curl -sS --fail --cacert ca.crt -H 'Content-Type: application/x-pki-message' --data-binary @tls1.der -o tls1.rep '${url}?operation=PKIOperation'
openssl cms -verify -binary -inform DER -in tls1.rep -CAfile ca.crt -purpose any -out tls1.env.der
openssl cms -decrypt -binary -inform DER -in tls1.env.der -recip tls1.self.crt -inkey tls1.key | openssl pkcs7 -inform DER -print_certs -out tls1.crt`);
    expect(sh(dir, "openssl verify -CAfile ca.crt tls1.crt")).toBe("tls1.crt: OK\n");
    expect(sh(dir, "openssl x509 -in tls1.crt -noout -subject")).toBe("subject=CN = tls1\n");
  });
});

describe("depot start --scep-template", () => {
  test("enrolments whose challenge names no template get the server's; an unknown one stops depot start with one line", async () => {
    const otherHttp = freePort();
    const other = await startServer(["--http-port", String(otherHttp), "--process-count", "1", "--scep-template", "vpn-client"], {
      keyType: "ec-p256",
      beforeStart: (depotPath) => appendFileSync(join(depotPath, "depot.cnf"), TEMPLATES),
    });
    try {
      await other.ready;
      const root = other.depotPath;
      depotOk(["scep", "init", root]);
      const sub = enrolElsewhere(root, `http://127.0.0.1:${otherHttp}/scep`, "tpl", "/CN=vpn-device-1");
      const dates = sh(sub, "openssl x509 -in device.crt -noout -startdate -enddate");
      const [start, end] = [/notBefore=(.*)/.exec(dates)![1]!, /notAfter=(.*)/.exec(dates)![1]!].map((d) => Date.parse(d));
      // vpn-client's 90 days, not the depot's default.
      expect(Math.round((end! - start!) / 86_400_000)).toBe(90);
      const serial = sh(sub, "openssl x509 -in device.crt -noout -serial").trim().replace(/^serial=/, "");
      expect(depotOk(["show", root, serial])).toContain("vpn-client");
    } finally {
      other.process.kill("SIGQUIT");
      await other.process.exited;
    }
    const refused = run([DEPOT_BIN, "start", path, "--port", String(freePort()), "--http-port", String(freePort()), "--pid-file", join(dir, "refused.pid"), "--scep-template", "nope"]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr.trim().split("\n").at(-1)).toBe("depot: --scep-template nope: no template named 'nope' in depot.cnf; depot template list shows them");
  }, 60_000);
});

describe("SCEP with an encrypted CA key", () => {
  test("scep init encrypts the RA key with the CA's passphrase; the server decrypts it once and its workers enroll", async () => {
    const home = tempDir("depot-scep-enc-");
    const root = join(home, "ca");
    const passphraseFile = join(home, "passphrase");
    writeFileSync(passphraseFile, "scep passphrase\n", { mode: 0o600 });
    depotOk(["init", root, "--encrypt", "--passphrase-file", passphraseFile, "--key-type", "ec-p256"]);
    depotOk(["scep", "init", root, "--passphrase-file", passphraseFile]);
    expect(readFileSync(join(root, "private", "scep_ra.key"), "utf8")).toStartWith("-----BEGIN ENCRYPTED PRIVATE KEY-----");
    const port = freePort();
    const http = freePort();
    const logFile = join(home, "depot.log");
    const proc = Bun.spawn([DEPOT_BIN, "start", root, "--port", String(port), "--http-port", String(http), "--pid-file", join(home, "pid"), "--log-file", logFile, "--passphrase-file", passphraseFile], {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, HOME: home },
    });
    try {
      const log = () => (Bun.file(logFile).size > 0 ? readFileSync(logFile, "utf8") : "");
      await waitFor(() => /All \d+ workers ready/.test(log()), 15_000, () => `server not ready:\n${log()}`);
      const sub = enrolElsewhere(root, `http://127.0.0.1:${http}/scep`, "enc", "/CN=device");
      expect(sh(sub, "openssl verify -CAfile ca.crt device.crt")).toBe("device.crt: OK\n");
    } finally {
      proc.kill("SIGQUIT");
      await proc.exited;
    }
  }, 60_000);
});

function validCount(): number {
  return (JSON.parse(depotOk(["list", path, "--json"])) as unknown[]).length;
}

/** GetCertInitial's IssuerAndSubject: the CA's name and the requested subject (DER), made from openssl's certificates. */
function issuerAndSubject(): Uint8Array {
  const nameOf = (file: string, which: "issuer" | "subject") => {
    // The Name's DER: openssl asn1parse of the certificate, the field's offset found in its listing.
    const listing = sh(dir, `openssl x509 -in ${file} -outform DER -out ${file}.der; openssl asn1parse -inform DER -in ${file}.der`).split("\n");
    // TBSCertificate's children at depth 2: version [0], serial, algorithm, issuer, validity, subject.
    const depth2 = listing.filter((line) => /d=2/.test(line));
    const index = depth2[0]!.includes("cont [ 0 ]") ? (which === "issuer" ? 3 : 5) : which === "issuer" ? 2 : 4;
    const offset = Number(/^\s*(\d+):/.exec(depth2[index]!)![1]);
    const der = readFileSync(join(dir, `${file}.der`));
    const header = der[offset + 1]! & 0x80 ? 2 + (der[offset + 1]! & 0x7f) : 2;
    const length = der[offset + 1]! & 0x80 ? [...der.subarray(offset + 2, offset + header)].reduce((a, b) => a * 256 + b, 0) : der[offset + 1]!;
    return der.subarray(offset, offset + header + length);
  };
  const body = Buffer.concat([nameOf("ca.crt", "subject"), nameOf("printer7.crt", "subject")]);
  return new Uint8Array(Buffer.concat([Buffer.from([0x30, 0x81, body.length]), body]));
}
