// The workers' shared ACME nonce book (src/acme/shared-nonce-book.ts): a
// nonce is spent once whichever process spends it, two real processes
// racing over the same nonces win each exactly once, a nonce older than the
// window is refused while its slot serves a newer one, the counter wraps,
// and the file leaves nothing behind.
import { afterAll, describe, expect, test } from "bun:test";
import { closeSync, fstatSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createNonceBookFile, SharedNonceBook } from "../src/acme/shared-nonce-book.ts";
import { Nonces } from "../src/acme/nonces.ts";
import { DepotError } from "../src/errors.ts";
import { ROOT, tempDir } from "./helpers.ts";

const folder = tempDir("depot-nonce-book-");
const opened: number[] = [];
afterAll(() => opened.forEach((fd) => closeSync(fd)));

function newBook(windowLog2?: number): { fd: number; open: () => SharedNonceBook } {
  const fd = createNonceBookFile(folder, windowLog2);
  opened.push(fd);
  // Each open is its own mapping of the file, as each worker has.
  return { fd, open: () => SharedNonceBook.open(`/dev/fd/${fd}`) };
}

/** A nonce body as Nonces makes one: the issue time, then the book's 8 bytes. */
function mint(book: SharedNonceBook): Buffer {
  const body = Buffer.alloc(16);
  body.writeBigUInt64BE(BigInt(Date.now()), 0);
  book.mint(body.subarray(8));
  return body;
}

const spend = (book: SharedNonceBook, body: Buffer) => book.spend("", body, undefined);

async function* readLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let pending = "";
  for await (const chunk of stream) {
    pending += decoder.decode(chunk, { stream: true });
    let newline: number;
    while ((newline = pending.indexOf("\n")) !== -1) {
      yield pending.slice(0, newline);
      pending = pending.slice(newline + 1);
    }
  }
}

describe("the shared nonce book", () => {
  test("a nonce is spent once, whichever mapping of the book spends it first", async () => {
    const { open } = newBook();
    const [a, b] = [open(), open()];
    const nonce = mint(a);
    expect(await spend(b, nonce)).toBe(true);
    expect(await spend(a, nonce)).toBe(false);
    expect(await spend(b, nonce)).toBe(false);
    const next = mint(b);
    expect(next.readUInt32BE(8)).toBe(nonce.readUInt32BE(8) + 1);
    expect(await spend(a, next)).toBe(true);
  });

  test("two processes spending the same 200,000 nonces at the same moment win each exactly once", async () => {
    const { fd, open } = newBook();
    const book = open();
    const bodies = Array.from({ length: 200_000 }, () => mint(book).toString("base64url"));
    const list = join(folder, "bodies.json");
    writeFileSync(list, JSON.stringify(bodies));
    // Opposite ways through the list: each wins from its own end, and they contend where they meet.
    const spenders = ["forward", "backward"].map((direction) =>
      Bun.spawn([process.execPath, join(ROOT, "test", "fixtures", "nonce-spender.ts"), list, direction], { stdio: ["pipe", "pipe", "inherit", fd] }),
    );
    const outputs = spenders.map((spender) => readLines(spender.stdout as ReadableStream<Uint8Array>));
    // Both have mapped the book before either spends.
    for (const output of outputs) expect((await output.next()).value).toBe("ready");
    for (const spender of spenders) {
      const stdin = spender.stdin as import("bun").FileSink;
      stdin.write("go\n");
      stdin.end();
    }
    const won: number[][] = [];
    for (const output of outputs) won.push(JSON.parse((await output.next()).value as string) as number[]);
    for (const spender of spenders) expect(await spender.exited).toBe(0);
    // The race was real: each process won some.
    expect(won[0]!.length).toBeGreaterThan(0);
    expect(won[1]!.length).toBeGreaterThan(0);
    expect(won[0]!.length + won[1]!.length).toBe(200_000);
    expect(new Set([...won[0]!, ...won[1]!]).size).toBe(200_000);
  });

  test("a nonce older than the window is refused; its slot serves the newer nonce that took it", async () => {
    const book = newBook(5).open(); // 32 nonces
    const first = mint(book);
    const second = mint(book);
    expect(await spend(book, first)).toBe(true);
    const later = Array.from({ length: 31 }, () => mint(book));
    // `second` is the oldest of the last 32 handed out; `first`'s slot went to the newest.
    expect(await spend(book, second)).toBe(true);
    expect(await spend(book, later.at(-1)!)).toBe(true);
    expect(await spend(book, first)).toBe(false);
    mint(book);
    expect(await spend(book, later[0]!)).toBe(true);
    expect(await spend(book, mint(book))).toBe(true);
    expect(await spend(book, later[0]!)).toBe(false);
  });

  test("a counter not yet handed out is refused", async () => {
    const book = newBook().open();
    const body = mint(book);
    body.writeUInt32BE(body.readUInt32BE(8) + 1, 8);
    expect(await spend(book, body)).toBe(false);
  });

  test("the counter wraps past 2^32: nonces on both sides are spent once", async () => {
    const { fd, open } = newBook(6);
    const raw = Bun.mmap(`/dev/fd/${fd}`, { shared: true });
    new DataView(raw.buffer, raw.byteOffset).setUint32(16 * 4, 0xffff_fff0, true);
    const book = open();
    const bodies = Array.from({ length: 40 }, () => mint(book));
    expect(bodies[0]!.readUInt32BE(8)).toBe(0xffff_fff0);
    expect(bodies.at(-1)!.readUInt32BE(8)).toBe(23);
    for (const body of bodies) expect(await spend(book, body)).toBe(true);
    for (const body of bodies) expect(await spend(book, body)).toBe(false);
  });

  test("the file is unlinked at once and private; a file that is no book is refused", () => {
    const { fd } = newBook();
    expect(fstatSync(fd).mode & 0o777).toBe(0o600);
    expect(fstatSync(fd).nlink).toBe(0);
    expect(readdirSync(folder).filter((name) => name.startsWith(".nonce-book"))).toEqual([]);
    const other = join(folder, "not-a-book");
    writeFileSync(other, Buffer.alloc(200_000));
    let thrown: unknown;
    try {
      SharedNonceBook.open(other);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(DepotError);
    expect((thrown as DepotError).message).toBe("the ACME nonce book handed to this worker is not one");
  });

  test("Nonces over a shared book: a nonce passes once; a nonce MACed under another book's secret never", async () => {
    const { open } = newBook();
    const [mine, mineElsewhere] = [new Nonces(open()), new Nonces(open())];
    const theirs = new Nonces(newBook().open());
    const nonce = await mine.issue();
    expect(nonce).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await theirs.use(nonce)).toBe(false);
    expect(await mineElsewhere.use(nonce)).toBe(true);
    expect(await mine.use(nonce)).toBe(false);
  });
});
