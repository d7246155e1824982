/**
 * @module
 * The one error policy of every face: what a client is told of a failure.
 * `publicError(error)` classifies anything thrown into a kind (the client's
 * mistake, or the server's trouble), the HTTP status of that kind, a message
 * safe to send over the network, and for a ledger that is busy or out of
 * reach the seconds to wait before retrying. The line protocol, the HTTPS
 * API and ACME answer with it; the CLI classifies with it but, talking to
 * the operator on the depot's own machine, keeps a DepotError's message
 * whole, paths included (they are the paths the operator typed or owns).
 *
 * It imports nothing but `errors.ts`, so every face can load it.
 */
import { DepotError, type ErrorCode, messageOf } from "./errors.ts";

/** What class of failure: the client's (bad-request ... conflict) or the server's (unavailable, internal). */
export type ErrorKind = "bad-request" | "unauthorized" | "forbidden" | "not-found" | "conflict" | "unavailable" | "internal";

export interface PublicError {
  kind: ErrorKind;
  /** The HTTP status of the kind. */
  status: number;
  /** Safe to send to any client: a server's own failures name no absolute path. */
  message: string;
  /** Seconds to wait before retrying; only for `unavailable`. */
  retryAfter?: number;
}

/** The one Retry-After of every face for a busy or unreachable ledger: the writes already retried for 10 s (sqlite-busy.ts) before giving up. */
export const RETRY_AFTER_SECONDS = 5;

/** What every face says of a busy or unreachable ledger. */
export const UNAVAILABLE_MESSAGE = `the ledger is busy or out of reach; nothing was issued or changed, retry in ${RETRY_AFTER_SECONDS} s`;

/** What a client is told of a bug (the log has the error itself). */
export const INTERNAL_MESSAGE = "internal error; the server log has the details";

const STATUS: Record<ErrorKind, number> = {
  "bad-request": 400,
  unauthorized: 401,
  forbidden: 403,
  "not-found": 404,
  conflict: 409,
  unavailable: 503,
  internal: 500,
};

const KIND_OF_CODE: Record<ErrorCode, ErrorKind> = {
  E_BAD_DN: "bad-request",
  E_BAD_ARGUMENT: "bad-request",
  E_BAD_CSR: "bad-request",
  E_NOT_FOUND: "not-found",
  E_ALREADY_REVOKED: "conflict",
  E_DEPOT_EXISTS: "conflict",
  // The ledger could not be read or written (locked, full disk, read-only, PostgreSQL down): nothing was recorded.
  E_LEDGER: "unavailable",
  E_LEDGER_UNAVAILABLE: "unavailable",
  // The server's own files, configuration and keys: its trouble, not the request's.
  E_IO: "internal",
  E_NOT_A_DEPOT: "internal",
  E_INSECURE_KEY: "internal",
  E_BAD_PASSPHRASE: "internal",
  E_NOT_DELIVERED: "internal",
  E_SERVER: "internal",
  // The authorize or enrich webhook said no: the client's request, refused by the operator's rules.
  E_DENIED: "forbidden",
  // The webhook could not decide (timed out, failed, answered wrongly): nothing was issued, and a retry may pass.
  E_GATE_UNAVAILABLE: "unavailable",
  // The token was revoked while its request was being signed: the ledger refused the row (RecordCondition).
  E_REVOKED_TOKEN: "unauthorized",
  // Two finalizes of one ACME order raced and the other recorded first (RecordTerms.finishesAcmeOrder).
  E_ORDER_SETTLED: "conflict",
  // Only `depot renew` throws it, about the CA server it asked; no face answers with it.
  E_RENEW: "internal",
};

/** SQLite result codes that mean the ledger cannot be reached or written now, not that the request is wrong. */
const UNAVAILABLE_SQLITE = /^SQLITE_(BUSY|LOCKED|IOERR|CANTOPEN|FULL|READONLY|PROTOCOL|NOLFS)/;

/** Whether the kind is the server's trouble (logged), not the client's mistake. */
export function isServerSide(kind: ErrorKind): boolean {
  return kind === "unavailable" || kind === "internal";
}

/** Anything thrown, as a client may be told of it. */
export function publicError(error: unknown): PublicError {
  const kind = kindOf(error);
  if (kind === "unavailable") {
    // A gate's failure says which webhook and how (its message names no path); any other is the ledger's.
    const message = error instanceof DepotError && error.code === "E_GATE_UNAVAILABLE" ? withoutPaths(error.message) : UNAVAILABLE_MESSAGE;
    return { kind, status: STATUS[kind], message, retryAfter: RETRY_AFTER_SECONDS };
  }
  // A bug's own message may say anything (a path, a query): only a DepotError's was written for people.
  const message = error instanceof DepotError || kind !== "internal" ? messageOf(error) : INTERNAL_MESSAGE;
  return { kind, status: STATUS[kind], message: withoutPaths(message) };
}

function kindOf(error: unknown): ErrorKind {
  if (error instanceof DepotError) return KIND_OF_CODE[error.code] ?? "internal";
  // token-policy.ts's PolicyRefusal, known by name so this module loads no CA code.
  if (error instanceof Error && error.name === "PolicyRefusal") return "forbidden";
  const code = (error as { code?: unknown } | null | undefined)?.code;
  if (typeof code === "string" && UNAVAILABLE_SQLITE.test(code)) return "unavailable";
  return "internal";
}

/**
 * The last guard: a client learns what failed, not where the depot lives.
 * Each absolute path becomes its last part. A path is a run of `/name`
 * segments that starts after a space or punctuation and ends at one, so
 * URLs (`https://host/x`), relative paths (`private/ca.key`) and
 * distinguished names (`/CN=Bob/O=Example`, whose parts hold `=`) are left
 * alone.
 */
export function withoutPaths(message: string): string {
  return message.replace(/(?<![\w.~:/=-])(?:\/[^\s/:;,'"()=<>]+)+\/?(?=$|[\s:;,'"()<>])/g, (path) => path.replace(/\/$/, "").split("/").at(-1) ?? "");
}
