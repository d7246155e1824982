/**
 * @module
 * EST's wire format (RFC 7030 3.2.2 and 4, RFC 8951): a request body is a
 * DER PKCS#10 request in base64, line breaks anywhere
 * (`application/pkcs10`); an answer is a certs-only PKCS#7 message in
 * base64 (`application/pkcs7-mime; smime-type=certs-only`). The PKCS#7
 * encoder (@peculiar's schemas) is loaded by the first EST answer.
 */
import { certificateDerFromPem } from "../../ca/certificate-der.ts";
import { HttpProblem } from "../problem.ts";

/** A base64 PKCS#10 request of 16 KiB (the most depot reads) with line breaks fits with room to spare. */
export const MAX_EST_BODY_BYTES = 64 * 1024;

export const PKCS7_CERTS_ONLY = "application/pkcs7-mime; smime-type=certs-only";

/**
 * The request body as a PEM certificate request, for `readCsr` to check.
 * Base64 of DER as RFC 7030 has it; a PEM block is taken too (some clients
 * send one). 415 for another media type, 413 past the limit, 400 when it is
 * not base64.
 */
export async function readPkcs10Body(request: Request): Promise<string> {
  const type = request.headers.get("content-type");
  if (!type || !/^application\/pkcs10\s*(;|$)/i.test(type)) {
    throw new HttpProblem(415, `send the certificate request as application/pkcs10 (base64 of the DER request)${type ? `, not ${type.split(";")[0]!.slice(0, 60)}` : " (Content-Type is missing)"}`, {
      headers: { "accept-post": "application/pkcs10" },
    });
  }
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > MAX_EST_BODY_BYTES) throw tooLarge();
  const bytes = new Uint8Array(await request.arrayBuffer());
  if (bytes.length > MAX_EST_BODY_BYTES) throw tooLarge();
  const text = Buffer.from(bytes).toString("latin1");
  if (text.includes("-----BEGIN")) return text;
  const base64 = text.replace(/[\r\n\t ]+/g, "");
  if (base64 === "") throw bad("the body is empty: send the DER certificate request, base64-encoded");
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64) || base64.length % 4 === 1) throw bad("the body is not base64: EST sends the DER certificate request base64-encoded (openssl req -outform DER | base64)");
  return `-----BEGIN CERTIFICATE REQUEST-----\n${base64}\n-----END CERTIFICATE REQUEST-----\n`;
}

/** A 200 answer holding these certificates (PEM) as a certs-only PKCS#7 message, base64 in lines of 64. */
export async function pkcs7Answer(certificatePems: string[]): Promise<Response> {
  const { certsOnlyPkcs7 } = await import("../../ca/pkcs7.ts");
  const der = certsOnlyPkcs7(certificatePems.map(certificateDerFromPem));
  // Line feeds, not CRLF: coreutils' `base64 -d` refuses a carriage return.
  const base64 = Buffer.from(der).toString("base64").replace(/.{64}/g, "$&\n").replace(/\n$/, "");
  return new Response(`${base64}\n`, {
    status: 200,
    headers: { "content-type": PKCS7_CERTS_ONLY, "content-transfer-encoding": "base64", "cache-control": "no-store" },
  });
}

function bad(detail: string): HttpProblem {
  return new HttpProblem(400, detail, { slug: "bad-request" });
}

function tooLarge(): HttpProblem {
  return new HttpProblem(413, `the body is larger than ${MAX_EST_BODY_BYTES / 1024} KiB`);
}
