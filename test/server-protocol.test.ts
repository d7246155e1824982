/**
 * The line protocol over real sockets: `dist/depot start` with its workers,
 * a client per request, openssl to check what comes back.
 */
import { Database } from "bun:sqlite";
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openssl, pemBlocks, tempDir } from "./helpers.ts";
import { request, startServer, waitFor, workerPids, type RunningServer } from "./server-helpers.ts";

/** What `help` lists, in order. Update here when commands are added (crl, revoke, sign). */
const COMMANDS = "crl generate help revoke shutdown sign";
const HELP_ANSWER = `${COMMANDS}\n`;

/** One log line: `[  pid] YYYY-MM-DD HH:MM:SS| message`, the pid right-aligned in 5 columns. */
const LOG_LINE = /^\[( *)(\d+)\] (\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})\| (.*)$/;

// Every server a test starts is killed after it, pass or fail.
const servers: RunningServer[] = [];
const sockets: { end(): void }[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) {
    try {
      socket.end();
    } catch {
      // Already closed.
    }
  }
  for (const server of servers.splice(0)) await server.kill();
});

async function serve(args: string[] = [], options: Parameters<typeof startServer>[1] = {}): Promise<RunningServer> {
  const server = await startServer(args, options);
  servers.push(server);
  await server.ready;
  return server;
}

const sorted = (pids: number[]) => [...pids].sort((a, b) => a - b);

/** The files of an answer to `generate`, checked to be exactly a PKCS#8 key then a certificate. */
function splitIssued(answer: string, dir: string, name: string): { key: string; cert: string; certPem: string } {
  const blocks = pemBlocks(answer);
  expect(blocks.length).toBe(2);
  expect(blocks.join("")).toBe(answer); // Nothing before, between or after the two blocks.
  expect(blocks[0]!.startsWith("-----BEGIN PRIVATE KEY-----\n")).toBe(true);
  expect(blocks[0]!.endsWith("-----END PRIVATE KEY-----\n")).toBe(true);
  expect(blocks[1]!.startsWith("-----BEGIN CERTIFICATE-----\n")).toBe(true);
  expect(blocks[1]!.endsWith("-----END CERTIFICATE-----\n")).toBe(true);
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.crt`);
  writeFileSync(key, blocks[0]!);
  writeFileSync(cert, blocks[1]!);
  return { key, cert, certPem: blocks[1]! };
}

/** A connection that sends `payload` (maybe nothing) and then waits, recording what comes back. */
async function openConnection(port: number, payload?: Uint8Array | string) {
  const state = { received: "", closed: false };
  let closedResolve!: () => void;
  const closed = new Promise<void>((resolve) => (closedResolve = resolve));
  const markClosed = () => {
    state.closed = true;
    closedResolve();
  };
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      open(s) {
        if (payload !== undefined) s.write(payload);
      },
      data(_s, data) {
        state.received += Buffer.from(data).toString();
      },
      close: markClosed,
      error: markClosed,
    },
  });
  const handle = {
    state,
    closed,
    write: (data: string | Uint8Array) => socket.write(data),
    end: () => socket.end(),
  };
  sockets.push(handle);
  return handle;
}

/** Asks `help` until it is answered (a freed place may take a moment to show). */
async function helpEventually(port: number, timeoutMs: number): Promise<string> {
  const deadline = performance.now() + timeoutMs;
  let answer = "";
  while (performance.now() < deadline) {
    answer = await request(port, "help");
    if (answer === HELP_ANSWER) break;
    await Bun.sleep(50);
  }
  return answer;
}

describe("help", () => {
  test("help lists the commands, help <command> explains one, help <unknown> says so", async () => {
    const server = await serve();
    expect(await request(server.port, "help")).toBe(HELP_ANSWER);
    expect(await request(server.port, "HELP")).toBe(HELP_ANSWER);

    const generateHelp = await request(server.port, "help generate");
    expect(generateHelp).toMatch(/^GENERATE\n  generate <distinguished name>\n[\s\S]+\nRETURNS\n[\s\S]+\nEXAMPLE\n  generate \/UID=12\/CN=Bob Owner,emailAddress=bob@example.com\n$/);
    expect(generateHelp).toContain("  The private key (PKCS#8) and then the certificate, both PEM.\n");
    expect(await request(server.port, "help GENERATE")).toBe(generateHelp);

    // Every listed command has help in the same shape.
    for (const name of COMMANDS.split(" ")) {
      const text = await request(server.port, `help ${name}`);
      expect(text).toMatch(new RegExp(`^${name.toUpperCase()}\\n  ${name}\\b[^\\n]*\\n[\\s\\S]*\\nRETURNS\\n[\\s\\S]+\\nEXAMPLE\\n  ${name}\\b[\\s\\S]*\\n$`));
    }

    expect(await request(server.port, "help nosuch")).toBe("Unknown command nosuch\n");
  });
});

describe("generate", () => {
  test("generate /UID=recorder-12: a PKCS#8 key and a certificate the CA verifies, matching the key, in the ledger and on disk", async () => {
    const server = await serve();
    const dir = tempDir("depot-protocol-");
    const answer = await request(server.port, "generate /UID=recorder-12");
    const { key, cert, certPem } = splitIssued(answer, dir, "recorder-12");

    const caCert = join(server.depotPath, "certificates", "ca.crt");
    const verify = openssl(["verify", "-CAfile", caCert, cert]);
    expect(verify.stdout).toBe(`${cert}: OK\n`);
    expect(verify.exitCode).toBe(0);

    const subject = openssl(["x509", "-in", cert, "-noout", "-subject"]);
    expect(subject.stdout).toBe("subject=UID = recorder-12\n");

    // The private key is PKCS#8 (openssl reads it as such) and belongs to the certificate.
    const pkcs8 = openssl(["pkey", "-in", key, "-pubout"]);
    expect(pkcs8.exitCode).toBe(0);
    const certPublic = openssl(["x509", "-in", cert, "-noout", "-pubkey"]);
    expect(certPublic.exitCode).toBe(0);
    expect(pkcs8.stdout).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
    expect(pkcs8.stdout).toBe(certPublic.stdout);

    // Recorded: the ledger has the serial as openssl prints it (lower case), the file is <decimal>.crt.
    const serialOut = openssl(["x509", "-in", cert, "-noout", "-serial"]);
    const match = /^serial=([0-9A-F]+)\n$/.exec(serialOut.stdout);
    expect(match).not.toBeNull();
    const serial = match![1]!.toLowerCase();
    expect(serial.startsWith("00")).toBe(false);

    const db = new Database(join(server.depotPath, "ledger.sqlite3"), { readonly: true });
    try {
      const row = db.query("SELECT serial, type, status, pem FROM certificates WHERE serial = ?").get(serial) as
        | { serial: string; type: string; status: string; pem: string }
        | null;
      expect(row).not.toBeNull();
      expect(row!.serial).toBe(serial);
      expect(row!.type).toBe("client");
      expect(row!.status).toBe("valid");
      expect(row!.pem.trim()).toBe(certPem.trim());
      const count = db.query("SELECT count(*) AS n FROM certificates WHERE serial = ?").get(serial) as { n: number };
      expect(count.n).toBe(1);
    } finally {
      db.close();
    }

    const file = join(server.depotPath, "certificates", `${BigInt(`0x${serial}`).toString(10)}.crt`);
    expect(existsSync(file)).toBe(true);
    expect(readFileSync(file, "utf8").trim()).toBe(certPem.trim());
  });

  test("a DN with a space and both separators keeps the space; CRLF line endings work", async () => {
    const server = await serve();
    const dir = tempDir("depot-protocol-");
    const expected = "subject=UID = 12, CN = Bob Owner, emailAddress = bob@example.com\n";

    const lf = splitIssued(await request(server.port, "generate /UID=12/CN=Bob Owner,emailAddress=bob@example.com"), dir, "lf");
    expect(openssl(["x509", "-in", lf.cert, "-noout", "-subject"]).stdout).toBe(expected);

    const crlf = splitIssued(await request(server.port, "generate /UID=12/CN=Bob Owner,emailAddress=bob@example.com\r\n", { raw: true }), dir, "crlf");
    expect(openssl(["x509", "-in", crlf.cert, "-noout", "-subject"]).stdout).toBe(expected);
    const caCert = join(server.depotPath, "certificates", "ca.crt");
    expect(openssl(["verify", "-CAfile", caCert, crlf.cert]).stdout).toBe(`${crlf.cert}: OK\n`);

    expect(await request(server.port, "help\r\n", { raw: true })).toBe(HELP_ANSWER);
    expect(await request(server.port, "help generate\r\n", { raw: true })).toBe(await request(server.port, "help generate"));
    // A request split over several packets, CR and LF apart, is one line.
    const split = await openConnection(server.port, "he");
    await Bun.sleep(50);
    split.write("lp\r");
    await Bun.sleep(50);
    split.write("\n");
    await Promise.race([split.closed, Bun.sleep(5000)]);
    expect(split.state).toEqual({ received: HELP_ANSWER, closed: true });
  });
});

describe("bad input: one ERROR line, then the server closes", () => {
  const unknown = (name: string) => `ERROR unknown command '${name}' (commands: ${COMMANDS})\n`;
  const cases: [string, string | Uint8Array, string][] = [
    ["unknown command", "nosuch", unknown("nosuch")],
    ["unknown command with an argument", "frobnicate the thing", unknown("frobnicate")],
    ["a long unknown command is cut at 40 characters", "x".repeat(50), unknown(`${"x".repeat(40)}...`)],
    ["empty line", "", "ERROR empty request\n"],
    ["blank line", "   ", "ERROR empty request\n"],
    ["empty CRLF line", new TextEncoder().encode("\r\n"), "ERROR empty request\n"],
    ["a line starting with a space", " help", "ERROR a request starts with a command\n"],
    ["generate without a DN", "generate", "ERROR generate needs a distinguished name, e.g. generate /CN=Bob Owner\n"],
    ["generate with only spaces", "generate   ", "ERROR generate needs a distinguished name, e.g. generate /CN=Bob Owner\n"],
    ["DN: no '='", "generate CN", "ERROR 'CN' has no '=' (expected NAME=value)\n"],
    ["DN: unknown attribute", "generate /XX=1", "ERROR unknown attribute 'XX' (known: CN, L, ST, O, OU, C, STREET, DC, UID, emailAddress)\n"],
    ["DN: empty attribute", "generate /CN=a//O=b", "ERROR distinguished name has an empty attribute (two separators in a row, or one at an end)\n"],
    ["DN: trailing separator", "generate /CN=a/", "ERROR distinguished name has an empty attribute (two separators in a row, or one at an end)\n"],
    ["DN: empty value", "generate /CN=", "ERROR empty value for CN\n"],
    ["DN: unescaped '=' in a value", "generate /CN=a=b", "ERROR value of CN holds '=': escape it as '\\='\n"],
    ["DN: lone backslash", "generate /CN=a\\", "ERROR distinguished name ends with a lone '\\'\n"],
    ["DN: bad country", "generate /C=USA", "ERROR country code 'USA' is not two letters\n"],
    ["DN: CN too long", `generate /CN=${"a".repeat(65)}`, "ERROR CN is longer than 64 characters\n"],
    ["DN: control character", "generate /CN=a\tb", "ERROR distinguished name holds a control character (0x09)\n"],
    ["DN: non-ASCII e-mail", "generate /emailAddress=bé@example.com", "ERROR emailAddress must be plain ASCII\n"],
    ["a line over 8 KiB without a newline", new Uint8Array(9000).fill(0x61), "ERROR request line longer than 8192 bytes\n"],
    ["a line over 8 KiB with a newline", `help ${"a".repeat(9000)}`, "ERROR request line longer than 8192 bytes\n"],
    ["invalid UTF-8", new Uint8Array([0x68, 0x65, 0x6c, 0x70, 0x20, 0xff, 0xfe, 0x0a]), "ERROR request is not valid UTF-8\n"],
    ["truncated UTF-8 sequence before CRLF", new Uint8Array([0x68, 0x65, 0xc3, 0x0d, 0x0a]), "ERROR request is not valid UTF-8\n"],
    ["binary garbage with NUL bytes", new Uint8Array([0x00, 0x01, 0x02, 0x67, 0x00, 0x20, 0x00, 0xff, 0x00, 0x0a]), "ERROR request is not valid UTF-8\n"],
    ["NUL bytes in valid UTF-8", new Uint8Array([0x00, 0x01, 0x02, 0x67, 0x00, 0x20, 0x00, 0x0a]), unknown("???g?")],
    ["NUL bytes in a DN", new Uint8Array([...new TextEncoder().encode("generate /CN=a"), 0x00, 0x0a]), "ERROR distinguished name holds a control character (0x00)\n"],
  ];

  test("every bad request gets its exact ERROR line; no worker crashes", async () => {
    const server = await serve();
    const pidsBefore = sorted(workerPids(server.process.pid));
    expect(pidsBefore.length).toBe(2);

    for (const [what, line, expected] of cases) {
      // request() resolves only once the server closes the connection; 5 s is well under the 10 s read timeout.
      const answer = await request(server.port, line, { timeoutMs: 5000 });
      expect({ what, answer }).toEqual({ what, answer: expected });
      expect(answer.split("\n").length).toBe(2); // exactly one line
    }

    expect(await request(server.port, "help")).toBe(HELP_ANSWER);
    expect(sorted(workerPids(server.process.pid))).toEqual(pidsBefore);
    const log = server.log();
    expect(log).not.toContain(" died ");
    expect(log).not.toContain("internal error");
    expect(log).not.toContain("failed to start");
  });

  test("the 8 KiB limit is on the line, the same with LF and CRLF", async () => {
    const server = await serve();
    const longest = `help ${"a".repeat(8192 - 5)}`; // 8192 bytes: the longest line allowed
    const tooLong = `${longest}a`; // 8193 bytes
    expect(Buffer.byteLength(longest)).toBe(8192);
    const accepted = `Unknown command ${"a".repeat(8187)}\n`;
    const refused = "ERROR request line longer than 8192 bytes\n";
    const answers = {
      longestLf: await request(server.port, `${longest}\n`, { raw: true, timeoutMs: 5000 }),
      longestCrlf: await request(server.port, `${longest}\r\n`, { raw: true, timeoutMs: 5000 }),
      tooLongLf: await request(server.port, `${tooLong}\n`, { raw: true, timeoutMs: 5000 }),
      tooLongCrlf: await request(server.port, `${tooLong}\r\n`, { raw: true, timeoutMs: 5000 }),
    };
    expect(answers).toEqual({ longestLf: accepted, longestCrlf: accepted, tooLongLf: refused, tooLongCrlf: refused });
  });

  test("no full line within 5 s of the accept: ERROR, and the server still answers", async () => {
    const server = await serve();
    const pidsBefore = sorted(workerPids(server.process.pid));
    const started = performance.now();
    const silent = await openConnection(server.port);
    const partial = await openConnection(server.port, "help gen");
    // Others are served meanwhile.
    await Bun.sleep(200);
    expect(await request(server.port, "help")).toBe(HELP_ANSWER);
    expect(silent.state.closed).toBe(false);
    expect(partial.state.closed).toBe(false);

    await Promise.race([Promise.all([silent.closed, partial.closed]), Bun.sleep(8_000)]);
    const elapsed = performance.now() - started;
    expect(silent.state).toEqual({ received: "ERROR no full line within 5 s\n", closed: true });
    expect(partial.state).toEqual({ received: "ERROR no full line within 5 s\n", closed: true });
    expect(elapsed).toBeGreaterThan(4_500);
    expect(elapsed).toBeLessThan(7_000);

    expect(await request(server.port, "help")).toBe(HELP_ANSWER);
    expect(sorted(workerPids(server.process.pid))).toEqual(pidsBefore);
  }, 30_000);
});

describe("the log", () => {
  test("a client's control characters never reach the log (debug 'served' lines)", async () => {
    const server = await serve(["--log-level", "debug"]);
    // An ANSI escape that would recolour or clear the terminal of whoever tails the log.
    expect(await request(server.port, "\x1b[2Jhelp")).toBe(`ERROR unknown command '?[2Jhelp' (commands: ${COMMANDS})\n`);
    expect(await request(server.port, "help")).toBe(HELP_ANSWER);
    await waitFor(() => (server.log().match(/\| DEBUG: served /g) ?? []).length >= 2, 5000, () => server.log());
    const log = server.log();
    expect(log).toMatch(/\| DEBUG: served help in \d+\.\d ms\n/);
    const control = /[\u0000-\u0009\u000b-\u001f\u007f]/.exec(log);
    expect(control === null ? null : JSON.stringify(log.slice(Math.max(0, control.index - 30), control.index + 10))).toBeNull();
  });
});

describe("capacity", () => {
  test("--max-connection-queue 1 --process-count 1: a request over the limit gets ERROR busy as a line, closed without a reset", async () => {
    const server = await serve(["--max-connection-queue", "1", "--process-count", "1"]);
    expect(workerPids(server.process.pid).length).toBe(1);

    const held = [await openConnection(server.port)];
    await Bun.sleep(200);
    expect(held[0]!.state).toEqual({ received: "", closed: false });
    // The second connection's request is read, then refused: a reset would make request() throw.
    const started = performance.now();
    for (let i = 0; i < 5; i++) expect(await request(server.port, "help", { timeoutMs: 2000 })).toBe("ERROR busy\n");
    expect(performance.now() - started).toBeLessThan(2000);
    expect(held[0]!.state).toEqual({ received: "", closed: false });

    // Once the held connection ends, its place is free again.
    held[0]!.end();
    await Promise.race([held[0]!.closed, Bun.sleep(2000)]);
    expect(held[0]!.state.closed).toBe(true);
    expect(await helpEventually(server.port, 3000)).toBe(HELP_ANSWER);
    expect(workerPids(server.process.pid).length).toBe(1);
  });
});

describe("workers", () => {
  test("connections are spread over more than one worker; log lines have the documented format", async () => {
    const server = await serve(["--log-level", "debug"]);
    const pids = sorted(workerPids(server.process.pid));
    expect(pids.length).toBe(2);

    const REQUESTS = 40;
    for (let i = 0; i < REQUESTS; i++) expect(await request(server.port, "help")).toBe(HELP_ANSWER);

    const served = () => server.log().split("\n").filter((line) => line.includes("served help"));
    await waitFor(() => served().length >= REQUESTS, 5000, () => `only ${served().length} 'served help' lines:\n${server.log()}`);
    expect(served().length).toBe(REQUESTS);

    const servingPids = new Set<number>();
    for (const line of served()) {
      const match = LOG_LINE.exec(line);
      expect(match).not.toBeNull();
      expect(line).toMatch(/\| DEBUG: served help in \d+\.\d ms$/);
      servingPids.add(Number(match![2]));
    }
    expect(servingPids.size).toBeGreaterThanOrEqual(2);
    for (const pid of servingPids) expect(pids).toContain(pid);

    // Every line of the log, not only the served ones.
    const lines = server.log().split("\n");
    expect(lines.pop()).toBe(""); // ends with a newline
    const now = Date.now();
    for (const line of lines) {
      const match = LOG_LINE.exec(line);
      if (!match) throw new Error(`log line not in the format '[  pid] YYYY-MM-DD HH:MM:SS| message': ${JSON.stringify(line)}`);
      const [, pad = "", pid = "", year, month, day, hour, minute, second] = match;
      expect(pad.length + pid.length).toBe(Math.max(5, pid.length)); // right-aligned in 5 columns
      expect([server.process.pid, ...pids]).toContain(Number(pid));
      const when = new Date(Number(year), Number(month) - 1, Number(day), Number(hour), Number(minute), Number(second)).getTime();
      expect(Math.abs(now - when)).toBeLessThan(120_000);
    }
    expect(lines.some((line) => line.startsWith(`[${String(server.process.pid).padStart(5)}] `) && line.endsWith("| All 2 workers ready"))).toBe(true);
  });
});
