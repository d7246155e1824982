// Connection with a fake socket and a fake clock: partial lines, CRLF, the
// 8 KiB limit, invalid UTF-8, EOF before a line ending, writes that drain in
// parts, the deadlines, the busy answer; `finished` exactly once each time.
import { expect, test } from "bun:test";
import { Connection, type ConnectionSocket, type Schedule } from "../src/line/connection.ts";
import type { LineServices as Services } from "../src/line/services.ts";
import { FakeClock, settle } from "./fakes.ts";

const HELP = "crl generate help revoke shutdown sign\n";
const CSR = "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n";

/** Takes at most `capacity` bytes per write (Infinity: all); -1 once closed. */
class FakeSocket implements ConnectionSocket {
  written = "";
  ended = false;
  writes = 0;
  constructor(public capacity = Infinity) {}
  write(data: Uint8Array): number {
    if (this.ended) return -1;
    this.writes++;
    const taken = Math.min(data.length, this.capacity);
    this.written += Buffer.from(data.subarray(0, taken)).toString();
    return taken;
  }
  end(): void {
    this.ended = true;
  }
}

const services: Services = {
  generate: async () => "KEY+CERT\n",
  sign: async (csr) => `SIGNED ${csr.length}\n`,
  crl: async () => "CRL\n",
  revoke: async (serial) => `OK revoked ${serial}\n`,
  allowRevoke: false,
  allowShutdown: false,
};

const runAtOnce: Schedule = async (work) => ({ ran: true, value: await work() });

function connect(options: { capacity?: number; busy?: boolean; schedule?: Schedule } = {}) {
  const clock = new FakeClock();
  const socket = new FakeSocket(options.capacity);
  let finished = 0;
  const internal: unknown[] = [];
  const connection = new Connection(
    socket,
    {
      services,
      schedule: options.schedule ?? runAtOnce,
      clock,
      finished: () => finished++,
      shutdownRequested: () => {},
      internalError: (error) => internal.push(error),
      served: () => {},
    },
    options.busy,
  );
  const send = (text: string | Uint8Array) => connection.onData(typeof text === "string" ? Buffer.from(text) : text);
  return { clock, socket, connection, send, finished: () => finished, internal };
}

test("a line in pieces is answered once it ends; then the socket is closed and finished called once", async () => {
  const c = connect();
  c.send("he");
  c.send("l");
  await settle();
  expect(c.socket.written).toBe("");
  c.send("p\n");
  await settle();
  expect(c.socket.written).toBe(HELP);
  expect(c.socket.ended).toBe(true);
  c.connection.onClose();
  expect(c.finished()).toBe(1);
});

test("CRLF and a CR split from its LF are line endings", async () => {
  for (const pieces of [["help\r\n"], ["help\r", "\n"]]) {
    const c = connect();
    for (const piece of pieces) c.send(piece);
    await settle();
    expect(c.socket.written).toBe(HELP);
  }
});

test("the 8 KiB limit counts the line without its ending; a longer line is refused before its end arrives", async () => {
  const longest = `help ${"a".repeat(8187)}`;
  for (const ending of ["\n", "\r\n"]) {
    const ok = connect();
    ok.send(longest + ending);
    await settle();
    expect(ok.socket.written).toBe(`Unknown command ${"a".repeat(8187)}\n`);
    const tooLong = connect();
    tooLong.send(`${longest}a${ending}`);
    await settle();
    expect(tooLong.socket.written).toBe("ERROR request line longer than 8192 bytes\n");
  }
  const endless = connect();
  endless.send("a".repeat(5000));
  endless.send("a".repeat(5000));
  await settle();
  expect(endless.socket.written).toBe("ERROR request line longer than 8192 bytes\n");
  expect(endless.finished()).toBe(1);
});

test("invalid UTF-8, also split across chunks, is refused", async () => {
  const c = connect();
  c.send(new Uint8Array([0x68, 0x65, 0xc3]));
  c.send(new Uint8Array([0x0a]));
  await settle();
  expect(c.socket.written).toBe("ERROR request is not valid UTF-8\n");
  // A multi-byte character split across chunks is fine.
  const split = connect();
  split.send(new Uint8Array([0x68, 0x65, 0x6c, 0x70, 0x20, 0xc3]));
  split.send(new Uint8Array([0xa9, 0x0a]));
  await settle();
  expect(split.socket.written).toBe("Unknown command ?\n"); // é, decoded whole, then shown safely
});

test("EOF before a line ending: the bytes are the line; nothing sent: closed without an answer", async () => {
  const c = connect();
  c.send("help");
  c.connection.onEnd();
  await settle();
  expect(c.socket.written).toBe(HELP);
  expect(c.finished()).toBe(1);

  const empty = connect();
  empty.connection.onEnd();
  expect(empty.socket.written).toBe("");
  expect(empty.socket.ended).toBe(true);
  expect(empty.finished()).toBe(1);
});

test("sign: the PEM request is read to its END line, or to EOF right after it; EOF before it is refused", async () => {
  const c = connect();
  c.send("sign\n");
  c.send(CSR.slice(0, 20));
  await settle();
  expect(c.socket.written).toBe("");
  c.send(CSR.slice(20));
  await settle();
  expect(c.socket.written).toBe(`SIGNED ${CSR.length}\n`);

  const atEof = connect();
  atEof.send(`sign\n${CSR.trimEnd()}`);
  atEof.connection.onEnd();
  await settle();
  expect(atEof.socket.written).toBe(`SIGNED ${CSR.length}\n`);

  const cut = connect();
  cut.send(`sign\n${CSR.slice(0, 30)}`);
  cut.connection.onEnd();
  await settle();
  expect(cut.socket.written).toBe("ERROR the certificate request ended before its -----END CERTIFICATE REQUEST----- line\n");
});

test("an answer the socket takes in parts is finished on drain; the close comes after the last byte", async () => {
  const c = connect({ capacity: 10 });
  c.send("help\n");
  await settle();
  expect(c.socket.written).toBe(HELP.slice(0, 10));
  expect(c.socket.ended).toBe(false);
  while (!c.socket.ended) c.connection.onDrain();
  expect(c.socket.written).toBe(HELP);
  expect(c.socket.writes).toBe(Math.ceil(HELP.length / 10));
  expect(c.finished()).toBe(1);
});

test("the first line must arrive within 5 s of the accept, however it trickles", async () => {
  const c = connect();
  for (let i = 0; i < 4; i++) {
    c.send("h");
    await c.clock.advance(1000);
  }
  expect(c.socket.written).toBe("");
  await c.clock.advance(1000);
  expect(c.socket.written).toBe("ERROR no full line within 5 s\n");
  expect(c.socket.ended).toBe(true);
  expect(c.finished()).toBe(1);
});

test("sign's PEM request has its own 10 s from the end of its first line", async () => {
  const c = connect();
  await c.clock.advance(4000);
  c.send("sign\n-----BEGIN");
  await c.clock.advance(9000); // 13 s after the accept: past the first-line deadline, within the body's
  expect(c.socket.written).toBe("");
  await c.clock.advance(1000);
  expect(c.socket.written).toBe("ERROR the certificate request did not reach its -----END CERTIFICATE REQUEST----- line within 10 s\n");
});

test("busy: the request is read, then answered ERROR busy as a line (or at the deadline if it never comes)", async () => {
  const c = connect({ busy: true });
  c.send("generate /CN=x\n");
  await settle();
  expect(c.socket.written).toBe("ERROR busy\n");
  expect(c.socket.ended).toBe(true);
  const silent = connect({ busy: true });
  await silent.clock.advance(5000);
  expect(silent.socket.written).toBe("ERROR busy\n");
});

test("a request that waited too long for the worker is answered ERROR busy, not run", async () => {
  let ran = false;
  const c = connect({ schedule: async () => ({ ran: false }) });
  const original = services.generate;
  services.generate = async () => {
    ran = true;
    return original([]);
  };
  try {
    c.send("generate /CN=late\n");
    await settle();
  } finally {
    services.generate = original;
  }
  expect(c.socket.written).toBe("ERROR busy\n");
  expect(ran).toBe(false);
});

test("help takes no slot: answered while every slot is held (by RSA issuances under load); generate waits for one", async () => {
  // A worker whose slots are all taken: schedule never runs anything.
  const full: Schedule = () => new Promise(() => {});
  const help = connect({ schedule: full });
  help.send("help\n");
  await settle();
  expect(help.socket.written).toBe(HELP);
  expect(help.finished()).toBe(1);
  const generate = connect({ schedule: full });
  generate.send("generate /CN=waits\n");
  await settle();
  expect(generate.socket.written).toBe("");
  expect(generate.finished()).toBe(0);
});

test("bytes after the request are ignored; a client gone before the answer gets nothing written and finished is called once", async () => {
  let release!: () => void;
  const slow: Schedule = async (work) => {
    await new Promise<void>((resolve) => (release = resolve));
    return { ran: true, value: await work() };
  };
  const c = connect({ schedule: slow });
  // crl, not help: help takes no slot, so the slow schedule would not hold it.
  c.send("crl\ncrl\nmore");
  await settle();
  c.connection.onClose();
  release();
  await settle();
  expect(c.socket.written).toBe("");
  expect(c.finished()).toBe(1);
});

test("a client that never reads its answer is dropped after 10 s", async () => {
  const c = connect({ capacity: 0 });
  c.send("help\n");
  await settle();
  expect(c.socket.ended).toBe(false);
  await c.clock.advance(10_000);
  expect(c.socket.ended).toBe(true);
  expect(c.finished()).toBe(1);
});
