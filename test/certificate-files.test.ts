// Certificate files: written for every issued certificate (deferred in a burst), restored from the ledger.
import { expect, test } from "bun:test";
import { readdirSync, readFileSync, renameSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CertificateFiles, RECENT_FILES_CHECKED, RESTORE_CHECKS_PER_TURN } from "../src/ca/certificate-files.ts";
import { createDepot } from "../src/ca/create.ts";
import { Depot } from "../src/ca/depot.ts";
import { parseDn } from "../src/ca/dn.ts";
import { certificateFileName } from "../src/ca/serial.ts";
import { tempDir } from "./helpers.ts";

const leafFiles = (root: string) => readdirSync(join(root, "certificates")).filter((name) => name !== "ca.crt").sort();

test("a burst of issues with deferred files: every file is there once the depot closes, equal to the ledger's PEM", async () => {
  const root = await createDepot(join(tempDir(), "burst"), { keyType: "ec-p256" });
  const depot = await Depot.open(root, { deferFiles: true });
  const issued = await Promise.all(Array.from({ length: 20 }, (_, i) => depot.issue({ profile: "client", subject: parseDn(`CN=burst-${i}`) })));
  depot.close();
  expect(leafFiles(root)).toEqual(issued.map((c) => certificateFileName(c.serial)).sort());
  for (const c of issued) expect(readFileSync(join(root, "certificates", certificateFileName(c.serial)), "utf8")).toBe(c.certificatePem);
});

test("a certificate issued alone has its file before issue() returns, even with deferred files", async () => {
  const root = await createDepot(join(tempDir(), "alone"), { keyType: "ed25519" });
  const depot = await Depot.open(root, { deferFiles: true });
  const issued = await depot.issue({ profile: "client", subject: parseDn("CN=alone") });
  expect(leafFiles(root)).toEqual([certificateFileName(issued.serial)]);
  depot.close();
});

test("restoreMissingFiles writes back the files a crash lost, and only those", async () => {
  const root = await createDepot(join(tempDir(), "restore"), { keyType: "ec-p256" });
  const depot = await Depot.open(root);
  const issued = [];
  for (let i = 0; i < 5; i++) issued.push(await depot.issue({ profile: "client", subject: parseDn(`CN=r-${i}`) }));
  rmSync(join(root, "certificates", certificateFileName(issued[1]!.serial)));
  rmSync(join(root, "certificates", certificateFileName(issued[3]!.serial)));
  expect(await depot.restoreMissingFiles()).toBe(2);
  expect(await depot.restoreMissingFiles()).toBe(0);
  expect(leafFiles(root)).toEqual(issued.map((c) => certificateFileName(c.serial)).sort());
  expect(readFileSync(join(root, "certificates", certificateFileName(issued[3]!.serial)), "utf8")).toBe(issued[3]!.certificatePem);
  depot.close();
});

test("a file left empty (killed between its creation and its one write) is rewritten from the ledger", async () => {
  const root = await createDepot(join(tempDir(), "empty"), { keyType: "ec-p256" });
  const depot = await Depot.open(root);
  const issued = [];
  for (let i = 0; i < 3; i++) issued.push(await depot.issue({ profile: "client", subject: parseDn(`CN=e-${i}`) }));
  const emptied = join(root, "certificates", certificateFileName(issued[2]!.serial));
  truncateSync(emptied, 0);
  expect(await depot.restoreMissingFiles()).toBe(1);
  expect(readFileSync(emptied, "utf8")).toBe(issued[2]!.certificatePem);
  expect(await depot.restoreMissingFiles()).toBe(0);
  depot.close();
});

test("only the newest files are checked for emptiness: older ones were written before any crash could have cut them", async () => {
  const dir = tempDir();
  const files = new CertificateFiles(dir, false, (error) => {
    throw error;
  });
  const serials = Array.from({ length: RECENT_FILES_CHECKED + 10 }, (_, i) => (0x1000 + i).toString(16));
  for (const serial of serials) writeFileSync(join(dir, certificateFileName(serial)), `pem of ${serial}`);
  const [oldest, newest] = [serials[0]!, serials.at(-1)!];
  writeFileSync(join(dir, certificateFileName(oldest)), "");
  writeFileSync(join(dir, certificateFileName(newest)), "");
  expect(await files.restoreMissing(serials, async (serial) => `pem of ${serial}`)).toBe(1);
  expect(readFileSync(join(dir, certificateFileName(newest)), "utf8")).toBe(`pem of ${newest}`);
  expect(readFileSync(join(dir, certificateFileName(oldest)), "utf8")).toBe("");
});

test("a certificate file that cannot be written is reported, and the issuance stands", async () => {
  const root = await createDepot(join(tempDir(), "no-files"), { keyType: "ec-p256" });
  const errors: string[] = [];
  const depot = await Depot.open(root, { onFileError: (error) => errors.push((error as Error).message) });
  // certificates/ replaced by a plain file: no certificate file can be created there.
  renameSync(join(root, "certificates"), join(root, "certificates.away"));
  writeFileSync(join(root, "certificates"), "not a folder");
  const issued = await depot.issue({ profile: "client", subject: parseDn("CN=still-issued") });
  expect(issued.certificatePem).toStartWith("-----BEGIN CERTIFICATE-----\n");
  expect((await depot.ledger.find(issued.serial))?.pem).toBe(issued.certificatePem);
  expect(errors).toEqual([`cannot write ${join(root, "certificates", certificateFileName(issued.serial))}: a part of the path is not a folder`]);
  depot.close();
});

test("restoreMissing turns the event loop while it compares a large ledger with the folder (a heartbeat goes on), and restores only what is missing", async () => {
  const dir = tempDir();
  const files = new CertificateFiles(dir, false, (error) => {
    throw error;
  });
  const serials = Array.from({ length: RESTORE_CHECKS_PER_TURN * 3 + 10 }, (_, i) => (0x1000 + i).toString(16));
  const present = serials[5]!;
  const lost = serials.at(-1)!;
  writeFileSync(join(dir, certificateFileName(present)), "present");
  let turns = 0;
  let ticking = true;
  const tick = () => {
    if (!ticking) return;
    turns++;
    setImmediate(tick);
  };
  setImmediate(tick);
  // Only two serials are in this fake ledger: the others are skipped without a write.
  const restored = await files.restoreMissing(serials, async (serial) => (serial === present || serial === lost ? `pem of ${serial}` : undefined));
  ticking = false;
  expect(restored).toBe(1);
  expect(readFileSync(join(dir, certificateFileName(lost)), "utf8")).toBe(`pem of ${lost}`);
  expect(readFileSync(join(dir, certificateFileName(present)), "utf8")).toBe("present");
  expect(turns).toBeGreaterThanOrEqual(3);
});
