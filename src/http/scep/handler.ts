/**
 * @module
 * SCEP (RFC 8894) at `/scep`, the same on the plain-HTTP and the HTTPS
 * listener (clients speak it over plain HTTP: its messages are signed and
 * encrypted):
 *
 *   GET  /scep?operation=GetCACaps                 what depot does, one per line
 *   GET  /scep?operation=GetCACert                 the RA and CA certificates, a certs-only
 *                                                  PKCS#7 (application/x-x509-ca-ra-cert)
 *   GET  /scep?operation=PKIOperation&message=B64  a pkiMessage, base64 (URL-encoded or not)
 *   POST /scep?operation=PKIOperation              a pkiMessage, DER (application/x-pki-message)
 *
 * A PKIOperation is answered with a CertRep (operations.ts), also when the
 * request is refused (a signed FAILURE); bytes that are no SCEP message are
 * a 400 problem document, a depot without RA a 404 (`depot scep init`).
 */
import { isServerSide, publicError } from "../../public-error.ts";
import { HttpProblem, problemResponse } from "../problem.ts";
import type { ScepServices } from "./services.ts";

export const SCEP_PATH = "/scep";

/** The largest pkiMessage read: a CSR of 16 KiB, the signer's certificates and the envelopes fit with room to spare. */
export const MAX_PKI_MESSAGE_BYTES = 64 * 1024;

/** GetCACaps (RFC 8894 3.5.2): only what depot does. DES3 for older clients (certmonger's daemon picks single DES without it). */
export const CA_CAPS = ["POSTPKIOperation", "SHA-256", "SHA-512", "AES", "DES3", "Renewal", "SCEPStandard"];

export type ScepHandler = (request: Request, clientAddress: string | undefined) => Promise<Response>;

export function scepHandler(services: ScepServices): ScepHandler {
  return async (request, clientAddress) => {
    try {
      return await answer(services, request, clientAddress);
    } catch (error) {
      return problemResponse(asProblem(error, services));
    }
  };
}

async function answer(services: ScepServices, request: Request, clientAddress: string | undefined): Promise<Response> {
  const url = new URL(request.url);
  const method = request.method === "HEAD" ? "GET" : request.method;
  if (method !== "GET" && method !== "POST") throw new HttpProblem(405, `${SCEP_PATH} answers GET and POST`, { headers: { allow: "GET, POST" } });
  const operation = url.searchParams.get("operation");
  if (operation === null) throw bad("missing ?operation= (GetCACaps, GetCACert or PKIOperation)");
  if (method === "POST" && operation !== "PKIOperation") throw new HttpProblem(405, `${operation} is a GET`, { headers: { allow: "GET" } });
  switch (operation) {
    case "GetCACaps":
      return new Response(`${CA_CAPS.join("\n")}\n`, { headers: { "content-type": "text/plain; charset=us-ascii", "cache-control": "no-store" } });
    case "GetCACert": {
      const ra = await services.ra();
      const { degeneratePkcs7 } = await import("./cert-rep.ts");
      const body = degeneratePkcs7([ra.certificateDer, ...services.caCertificateDers]);
      return new Response(body as Uint8Array<ArrayBuffer>, { headers: { "content-type": "application/x-x509-ca-ra-cert", "cache-control": "no-store" } });
    }
    case "PKIOperation": {
      const message = method === "POST" ? await postedMessage(request) : getMessage(url);
      // The message codec and the operations are loaded by the first PKIOperation.
      const { pkiOperation } = await import("./operations.ts");
      const certRep = await pkiOperation(message, { services, request, url, ...(clientAddress ? { clientAddress } : {}) });
      return new Response(certRep as Uint8Array<ArrayBuffer>, { headers: { "content-type": "application/x-pki-message", "cache-control": "no-store" } });
    }
    default:
      throw bad(`unknown operation '${operation.slice(0, 40)}' (GetCACaps, GetCACert or PKIOperation)`);
  }
}

/** GET's `message`: base64 of the DER (standard alphabet; `+` may have arrived as a space). */
function getMessage(url: URL): Uint8Array {
  const text = url.searchParams.get("message");
  if (text === null || text === "") throw bad("PKIOperation by GET needs ?message= (the pkiMessage, base64)");
  if (text.length > (MAX_PKI_MESSAGE_BYTES * 4) / 3 + 4) throw new HttpProblem(413, `a pkiMessage is at most ${MAX_PKI_MESSAGE_BYTES / 1024} KiB`);
  const base64 = text.replace(/ /g, "+").replace(/[\r\n]/g, "");
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64) || base64.length % 4 === 1) throw bad("message is not base64");
  return new Uint8Array(Buffer.from(base64, "base64"));
}

/** POST's body: the DER pkiMessage (RFC 8894 4.3; some clients send it base64, which is taken too). */
async function postedMessage(request: Request): Promise<Uint8Array> {
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > MAX_PKI_MESSAGE_BYTES) throw tooLarge();
  const body = new Uint8Array(await request.arrayBuffer());
  if (body.length > MAX_PKI_MESSAGE_BYTES) throw tooLarge();
  if (body.length === 0) throw bad("the body is empty: POST the pkiMessage (DER)");
  if (body[0] === 0x30) return body;
  const text = Buffer.from(body).toString("latin1").replace(/[\r\n]/g, "");
  if (/^[A-Za-z0-9+/]+={0,2}$/.test(text)) return new Uint8Array(Buffer.from(text, "base64"));
  throw bad("the body is not a DER pkiMessage");
}

function bad(detail: string): HttpProblem {
  return new HttpProblem(400, detail, { slug: "bad-request" });
}

function tooLarge(): HttpProblem {
  return new HttpProblem(413, `a pkiMessage is at most ${MAX_PKI_MESSAGE_BYTES / 1024} KiB`);
}

/** Every error as its problem document: ours as thrown, a malformed message 400, anything else by the one policy (public-error.ts). */
function asProblem(error: unknown, services: ScepServices): HttpProblem {
  if (error instanceof HttpProblem) return error;
  if (error instanceof Error && error.name === "MalformedScep") return bad(error.message);
  const failure = publicError(error);
  if (isServerSide(failure.kind)) services.internalError?.(error);
  const retry = failure.retryAfter === undefined ? {} : { headers: { "retry-after": String(failure.retryAfter) }, extensions: { retryAfter: failure.retryAfter } };
  return new HttpProblem(failure.status, failure.message, { slug: failure.kind === "unavailable" ? "ledger-unavailable" : failure.kind === "not-found" ? "not-found" : failure.kind, ...retry, cause: error });
}
