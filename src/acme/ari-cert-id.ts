/**
 * @module The ARI certificate identifier of a certificate, as a client
 * computes it (RFC 9773 section 4.1): base64url of the authority key
 * identifier's keyIdentifier, a dot, base64url of the serial's DER INTEGER
 * content. Not on the server's path (it reads certIDs, `parseCertId` in
 * ari.ts), so the server's processes do not load @peculiar/x509 for it.
 */
import { x509 } from "../ca/provider.ts";
import { magnitudeHex, toDerIntegerHex } from "../ca/serial.ts";

/** The ARI certID of a PEM certificate. */
export function certIdOf(pem: string): string {
  const certificate = new x509.X509Certificate(pem);
  const aki = certificate.getExtension(x509.AuthorityKeyIdentifierExtension);
  if (!aki?.keyId) throw new Error("the certificate has no authority key identifier");
  // The DER INTEGER's content: a leading 00 where the high bit is set, whatever form the parser gives.
  const serial = Buffer.from(toDerIntegerHex(magnitudeHex(Buffer.from(certificate.serialNumber, "hex"))), "hex");
  return `${Buffer.from(aki.keyId, "hex").toString("base64url")}.${serial.toString("base64url")}`;
}
