// The one error policy (src/public-error.ts) in isolation: each kind of
// failure, its status, the one Retry-After, and the last guard that keeps
// absolute paths from clients. The faces' own tests over real sockets are
// in public-errors-server.test.ts; the CLI's use of it is tested here.
import { expect, test } from "bun:test";
import { Database, SQLiteError } from "bun:sqlite";
import { join } from "node:path";
import { problemOf } from "../src/acme/problem.ts";
import { GateUnavailable, IssuanceDenied } from "../src/ca/issuance-gate.ts";
import { PolicyRefusal } from "../src/ca/token-policy.ts";
import { cliMessage } from "../src/cli/main.ts";
import { DepotError, type ErrorCode, ioError } from "../src/errors.ts";
import { asProblem } from "../src/http/api/index.ts";
import { type ErrorKind, INTERNAL_MESSAGE, type PublicError, publicError, RETRY_AFTER_SECONDS, UNAVAILABLE_MESSAGE, withoutPaths } from "../src/public-error.ts";
import { answer } from "../src/line/protocol.ts";
import { tempDir } from "./helpers.ts";

const DEPOT = "/srv/secret/depots/acme-corp";
const busy = () => Object.assign(new Error("database is locked"), { code: "SQLITE_BUSY" });

test("each DepotError code has its kind and status", () => {
  const expected: Record<ErrorCode, [ErrorKind, number]> = {
    E_BAD_DN: ["bad-request", 400],
    E_BAD_ARGUMENT: ["bad-request", 400],
    E_BAD_CSR: ["bad-request", 400],
    E_NOT_FOUND: ["not-found", 404],
    E_ALREADY_REVOKED: ["conflict", 409],
    E_DEPOT_EXISTS: ["conflict", 409],
    E_LEDGER: ["unavailable", 503],
    E_LEDGER_UNAVAILABLE: ["unavailable", 503],
    E_IO: ["internal", 500],
    E_NOT_A_DEPOT: ["internal", 500],
    E_INSECURE_KEY: ["internal", 500],
    E_BAD_PASSPHRASE: ["internal", 500],
    E_NOT_DELIVERED: ["internal", 500],
    E_SERVER: ["internal", 500],
    E_RENEW: ["internal", 500],
    E_DENIED: ["forbidden", 403],
    E_GATE_UNAVAILABLE: ["unavailable", 503],
    E_REVOKED_TOKEN: ["unauthorized", 401],
    E_ORDER_SETTLED: ["conflict", 409],
  };
  for (const [code, [kind, status]] of Object.entries(expected)) {
    const failure = publicError(new DepotError(code as ErrorCode, "x"));
    expect({ code, kind: failure.kind, status: failure.status }).toEqual({ code, kind, status });
  }
  expect(publicError(new PolicyRefusal("outside the policy"))).toEqual({ kind: "forbidden", status: 403, message: "outside the policy" });
});

test("a busy or unreachable ledger is one kind, one message and one Retry-After, however it is thrown", () => {
  const unavailable: PublicError = { kind: "unavailable", status: 503, message: UNAVAILABLE_MESSAGE, retryAfter: RETRY_AFTER_SECONDS };
  expect(RETRY_AFTER_SECONDS).toBe(5);
  expect(UNAVAILABLE_MESSAGE).toBe("the ledger is busy or out of reach; nothing was issued or changed, retry in 5 s");
  expect(publicError(busy())).toEqual(unavailable);
  expect(publicError(Object.assign(new Error("x"), { code: "SQLITE_BUSY_SNAPSHOT" }))).toEqual(unavailable);
  expect(publicError(new DepotError("E_LEDGER_UNAVAILABLE", "ledger unavailable"))).toEqual(unavailable);
  expect(publicError(new DepotError("E_LEDGER", `the disk holding the depot is full: cannot write the ledger ${DEPOT}/ledger.db`))).toEqual(unavailable);
  // A real SQLITE_BUSY: another connection holds the write lock.
  const file = join(tempDir(), "busy.db");
  const holder = new Database(file);
  const other = new Database(file);
  try {
    holder.run("CREATE TABLE t (x)");
    other.run("PRAGMA busy_timeout = 0");
    holder.run("BEGIN IMMEDIATE");
    let thrown: unknown;
    try {
      other.run("INSERT INTO t VALUES (1)");
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(SQLiteError);
    expect(publicError(thrown)).toEqual(unavailable);
  } finally {
    holder.close();
    other.close();
  }
});

test("a server's own failure is told without its paths; a bug is told nothing of itself", () => {
  const io = ioError("write", `${DEPOT}/certificates/1234.crt`, Object.assign(new Error(`EACCES: permission denied, open '${DEPOT}/certificates/1234.crt'`), { code: "EACCES" }));
  expect(publicError(io)).toEqual({ kind: "internal", status: 500, message: "cannot write 1234.crt: permission denied" });
  expect(publicError(new TypeError(`cannot read ${DEPOT}/x of undefined`))).toEqual({ kind: "internal", status: 500, message: INTERNAL_MESSAGE });
  expect(publicError("a string")).toEqual({ kind: "internal", status: 500, message: INTERNAL_MESSAGE });
  expect(publicError(undefined)).toEqual({ kind: "internal", status: 500, message: INTERNAL_MESSAGE });
  // The last guard holds for a client's kind too.
  expect(publicError(new DepotError("E_BAD_ARGUMENT", `${DEPOT} has one tier`)).message).toBe("acme-corp has one tier");
});

test("the last guard takes paths and leaves names, URLs and relative paths alone", () => {
  expect(withoutPaths("cannot write /a/b/c.crt: no space left on device")).toBe("cannot write c.crt: no space left on device");
  expect(withoutPaths("cannot read (/a/b/c.crt), nor '/d/e/'.")).toBe("cannot read (c.crt), nor 'e'.");
  expect(withoutPaths("/x/depot is not a depot (it needs depot.cnf, private/ca.key and certificates/ca.crt)")).toBe(
    "depot is not a depot (it needs depot.cnf, private/ca.key and certificates/ca.crt)",
  );
  expect(withoutPaths("generate needs a distinguished name, e.g. generate /UID=12/CN=Bob Owner")).toBe("generate needs a distinguished name, e.g. generate /UID=12/CN=Bob Owner");
  expect(withoutPaths("see https://ca.example.com/acme/directory or postgres://depot@db/ledger")).toBe("see https://ca.example.com/acme/directory or postgres://depot@db/ledger");
  expect(withoutPaths("the disk holding the depot is full")).toBe("the disk holding the depot is full");
});

test("every face answers a busy ledger alike: 503 and Retry-After 5 on HTTP, a busy ERROR line", async () => {
  const logged: unknown[] = [];
  const api = asProblem(busy(), { internalError: (error) => logged.push(error) });
  expect({ status: api.status, detail: api.detail, slug: api.slug, retryAfter: api.headers["retry-after"] }).toEqual({
    status: 503,
    detail: UNAVAILABLE_MESSAGE,
    slug: "ledger-unavailable",
    retryAfter: "5",
  });
  const acme = problemOf(busy());
  expect({ document: acme.toDocument(), retryAfter: acme.options.retryAfterSeconds }).toEqual({
    document: { type: "urn:ietf:params:acme:error:serverInternal", detail: UNAVAILABLE_MESSAGE, status: 503 },
    retryAfter: 5,
  });
  const line = await answer("crl", "", { crl: () => Promise.reject(busy()) } as never, (error) => logged.push(error));
  expect(line.text).toBe(`ERROR busy: ${UNAVAILABLE_MESSAGE}\n`);
  // The server's trouble is also logged, by each face.
  expect(logged.length).toBe(2);
});

test("the issuance webhooks on every face: a denial is 403 with the webhook's reason, a webhook that cannot decide 503 in its own words", async () => {
  const denied = new IssuanceDenied("authorize", "not on a Friday", { authorize: "denied" });
  const down = new GateUnavailable("the authorize webhook did not answer within 300 ms");
  const downMessage = "the authorize webhook did not answer within 300 ms; nothing was issued, retry in 5 s";
  const logged: unknown[] = [];
  const hooks = { internalError: (error: unknown) => logged.push(error) };
  const api = (error: unknown) => {
    const problem = asProblem(error, hooks);
    return { status: problem.status, slug: problem.slug, detail: problem.detail, retryAfter: problem.headers["retry-after"] };
  };
  expect(api(denied)).toEqual({ status: 403, slug: "denied", detail: "issuance denied by the authorize webhook: not on a Friday", retryAfter: undefined });
  expect(api(down)).toEqual({ status: 503, slug: "webhook-unavailable", detail: downMessage, retryAfter: "5" });
  expect(problemOf(denied).toDocument()).toEqual({ type: "urn:ietf:params:acme:error:unauthorized", detail: "issuance denied by the authorize webhook: not on a Friday", status: 403 });
  expect(problemOf(down).toDocument()).toEqual({ type: "urn:ietf:params:acme:error:serverInternal", detail: downMessage, status: 503 });
  expect(problemOf(down).options.retryAfterSeconds).toBe(5);
  const line = (error: unknown) => answer("generate /CN=x", "", { generate: () => Promise.reject(error) } as never, (e) => logged.push(e));
  expect((await line(denied)).text).toBe("ERROR issuance denied by the authorize webhook: not on a Friday\n");
  expect((await line(down)).text).toBe(`ERROR busy: ${downMessage}\n`);
  // The webhook's failure is the server's trouble (logged by each face); its denial is not.
  expect(logged).toEqual([down, down]);
  expect(cliMessage(denied)).toBe("issuance denied by the authorize webhook: not on a Friday");
});

test("ACME types follow the kind", () => {
  const typeOf = (error: unknown) => problemOf(error).toDocument();
  expect(typeOf(new DepotError("E_BAD_CSR", "bad"))).toEqual({ type: "urn:ietf:params:acme:error:badCSR", detail: "bad", status: 400 });
  expect(typeOf(new DepotError("E_BAD_DN", "bad"))).toEqual({ type: "urn:ietf:params:acme:error:malformed", detail: "bad", status: 400 });
  expect(typeOf(new DepotError("E_ALREADY_REVOKED", "again"))).toEqual({ type: "urn:ietf:params:acme:error:alreadyRevoked", detail: "again", status: 409 });
  expect(typeOf(new DepotError("E_IO", `cannot write ${DEPOT}/crl.pem: no space left on device`))).toEqual({
    type: "urn:ietf:params:acme:error:serverInternal",
    detail: "cannot write crl.pem: no space left on device",
    status: 500,
  });
});

test("the CLI keeps the operator's paths and words, and says a busy ledger as every face does", () => {
  // The operator runs depot on the depot's machine: the path is theirs, and what they act on.
  expect(cliMessage(new DepotError("E_IO", `cannot write ${DEPOT}/crl.pem: no space left on device`))).toBe(`cannot write ${DEPOT}/crl.pem: no space left on device`);
  expect(cliMessage(busy())).toBe(UNAVAILABLE_MESSAGE);
  expect(cliMessage(new TypeError("x is undefined"))).toBe("internal error: x is undefined (set DEPOT_DEBUG=1 for details)");
  const cittyError = (message: string, code: string) => Object.assign(new Error(message), { name: "CLIError", code });
  expect(cliMessage(cittyError("Missing required positional argument: PATH", "EARG"))).toBe("missing PATH");
  expect(cliMessage(cittyError("Missing required argument: --name", "EARG"))).toBe("missing --name");
  expect(cliMessage(cittyError("Invalid value for argument: \u001b[36m--type\u001b[39m (\u001b[36madmin\u001b[39m). Expected one of: client, server.", "EARG"))).toBe(
    "unknown --type 'admin' (client or server)",
  );
  expect(cliMessage(cittyError("Unknown command \u001b[36mfoo\u001b[39m", "E_UNKNOWN_COMMAND"))).toBe("Unknown command foo");
});
