/**
 * The crypto alone, for bench/run.ts to compare depot against: in one
 * process, for SECONDS, make a key pair of TYPE and sign a certificate-sized
 * message with a CA key of the same type, as fast as possible, one at a
 * time. Prints the number of operations done. bench/run.ts runs one per core.
 *
 *   bun bench/reference.ts TYPE SECONDS
 */
import { generateKeyPairSync, randomBytes, sign } from "node:crypto";

type Family = { kind: "rsa"; bits: number } | { kind: "ec"; curve: string; hash: string } | { kind: "ed25519" };
const FAMILIES: Record<string, Family> = {
  "rsa-2048": { kind: "rsa", bits: 2048 },
  "ec-p256": { kind: "ec", curve: "P-256", hash: "sha256" },
  "ec-p384": { kind: "ec", curve: "P-384", hash: "sha384" },
  ed25519: { kind: "ed25519" },
};

/** One key pair, exported as depot exports it: the PKCS#8 PEM and SPKI DER are part of the job. */
function makeKeyPair(family: Family): void {
  const encodings = { publicKeyEncoding: { type: "spki", format: "der" }, privateKeyEncoding: { type: "pkcs8", format: "pem" } } as const;
  if (family.kind === "rsa") generateKeyPairSync("rsa", { modulusLength: family.bits, ...encodings });
  else if (family.kind === "ec") generateKeyPairSync("ec", { namedCurve: family.curve, ...encodings });
  else generateKeyPairSync("ed25519", encodings);
}

const [type = "ec-p256", secondsText = "5"] = process.argv.slice(2);
const family = FAMILIES[type];
if (!family) throw new Error(`unknown key type ${type}`);
const caKey =
  family.kind === "rsa"
    ? generateKeyPairSync("rsa", { modulusLength: family.bits }).privateKey
    : family.kind === "ec"
      ? generateKeyPairSync("ec", { namedCurve: family.curve }).privateKey
      : generateKeyPairSync("ed25519").privateKey;
const hash = family.kind === "ec" ? family.hash : family.kind === "rsa" ? "sha256" : null;
const tbs = randomBytes(800);

const deadline = performance.now() + Number(secondsText) * 1000;
let operations = 0;
// An operation counts if it ends within the time, as bench/run.ts counts depot's answers.
while (performance.now() < deadline) {
  makeKeyPair(family);
  sign(hash, tbs, caKey);
  if (performance.now() <= deadline) operations++;
}
console.log(operations);
