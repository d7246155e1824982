/**
 * @module
 * One line-protocol connection, from accept to close (docs/architecture.md,
 * "A connection's life"):
 *
 * 1. reading: bytes up to the first line ending (at most 8 KiB), within
 *    FIRST_LINE_MS of the accept, whatever the client trickles; for `sign`,
 *    on to the END line of the PEM request (at most 16 KiB more) within
 *    READ_TIMEOUT_MS of the first line. A client's EOF ends the request as a
 *    line ending would (`printf help | nc -N` is answered).
 * 2. queued and processing: the worker's gate runs the request when it has
 *    room; one that waits longer than READ_TIMEOUT_MS is answered `ERROR busy`.
 * 3. writing: the whole answer (partial writes continue on drain), also after
 *    the client's half-close; then our side closes. A client that does not
 *    read its answer within READ_TIMEOUT_MS is dropped.
 *
 * A connection refused for capacity (`busy`) still reads the request, so
 * that `ERROR busy` arrives as a line and the close is a FIN, not the reset
 * that closing a socket with unread bytes sends. Whatever the client does,
 * `finished` is called exactly once.
 */
import type { Clock } from "../clock.ts";
import { answer, type Answer, answersAtOnce, CSR_END, errorAnswer, expectsBody, FIRST_LINE_MS, MAX_BODY_BYTES, MAX_LINE_BYTES, READ_TIMEOUT_MS } from "./protocol.ts";
import type { LineServices } from "./services.ts";

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** What a connection needs of its socket (a Bun socket; a fake in unit tests). */
export interface ConnectionSocket {
  /** Writes what it can; returns the bytes taken (fewer when the buffer is full; -1 when closed). */
  write(data: Uint8Array): number;
  /** Closes our side once what was written is sent. */
  end(): void;
}

/** The worker's room for work: runs `work` when a slot is free, or says it waited too long. */
export type Schedule = <T>(work: () => Promise<T>, maxWaitMs: number) => Promise<{ ran: true; value: T } | { ran: false }>;

export interface ConnectionHooks {
  services: LineServices;
  schedule: Schedule;
  clock: Clock;
  /** Called once per connection, when its answer is written or the client left. */
  finished(): void;
  /** An answer asked the worker to stop (the `shutdown` command). */
  shutdownRequested(): void;
  internalError(error: unknown): void;
  /** For the debug log and the metrics: the request's command, how long it took, and whether it was answered ERROR. */
  served(command: string, milliseconds: number, outcome: "ok" | "error"): void;
}

type Stage = "reading" | "processing" | "writing" | "done";

export class Connection {
  private stage: Stage = "reading";
  private received: Buffer = Buffer.alloc(0);
  private unsent: Uint8Array | undefined;
  private cancelDeadline: () => void;
  /** Set once the first line of a `sign` is in: the PEM request's own deadline runs. */
  private bodyDeadlineSet = false;
  private readonly startedAt: number;

  constructor(
    private readonly socket: ConnectionSocket,
    private readonly hooks: ConnectionHooks,
    /** Refused for capacity: the request is read, then answered `ERROR busy`. */
    private readonly busy = false,
  ) {
    this.startedAt = hooks.clock.now();
    this.cancelDeadline = hooks.clock.after(FIRST_LINE_MS, () => this.onReadDeadline());
  }

  onData(chunk: Uint8Array): void {
    if (this.stage !== "reading") return; // Bytes after the request are not read.
    this.received = this.received.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.received, chunk]);
    this.parse(false);
  }

  /** The client shut its write side (EOF): what it sent is the whole request. */
  onEnd(): void {
    if (this.stage !== "reading") return;
    if (this.received.length === 0) {
      this.close(); // Nothing asked: nothing to answer.
      return;
    }
    this.parse(true);
  }

  /** The socket is gone (the client closed or reset it, or it failed). */
  onClose(): void {
    this.close();
  }

  onDrain(): void {
    if (this.stage === "writing" && this.unsent) this.flush();
  }

  /** Looks for a complete request in what was received; `atEof` makes the end of the bytes a line ending. */
  private parse(atEof: boolean): void {
    const bytes = this.received;
    const newline = bytes.indexOf(10);
    const lineEnd = newline === -1 ? bytes.length - (bytes.at(-1) === 13 ? 1 : 0) : bytes[newline - 1] === 13 ? newline - 1 : newline;
    // The limit counts the line without its ending, LF or CRLF alike.
    if (lineEnd > MAX_LINE_BYTES) return this.reply(errorAnswer(`request line longer than ${MAX_LINE_BYTES} bytes`));
    if (newline === -1 && !atEof) return;
    const line = decode(bytes.subarray(0, lineEnd));
    if (line === undefined) return this.reply(errorAnswer("request is not valid UTF-8"));
    if (this.busy) return this.reply(errorAnswer("busy"));
    if (!expectsBody(line)) return this.dispatch(line, "");

    // sign: the PEM request follows, up to its END line.
    const rest = newline === -1 ? Buffer.alloc(0) : bytes.subarray(newline + 1);
    if (rest.length > MAX_BODY_BYTES) return this.reply(errorAnswer(`certificate request is larger than ${MAX_BODY_BYTES / 1024} KiB`));
    const body = decode(rest);
    if (body === undefined) return this.reply(errorAnswer("request is not valid UTF-8"));
    const end = body.indexOf(CSR_END);
    if (end !== -1 && (atEof || body.indexOf("\n", end) !== -1)) return this.dispatch(line, body.endsWith("\n") ? body : `${body}\n`);
    if (atEof) return this.reply(errorAnswer(`the certificate request ended before its ${CSR_END} line`));
    if (!this.bodyDeadlineSet) {
      this.bodyDeadlineSet = true;
      this.cancelDeadline();
      this.cancelDeadline = this.hooks.clock.after(READ_TIMEOUT_MS, () => this.onReadDeadline());
    }
  }

  private onReadDeadline(): void {
    if (this.stage !== "reading") return;
    this.reply(errorAnswer(this.busy ? "busy" : this.timeoutReason()));
  }

  /** Why the request was cut off: no line yet, or a `sign` whose PEM never ended. */
  private timeoutReason(): string {
    if (this.bodyDeadlineSet) return `the certificate request did not reach its ${CSR_END} line within ${READ_TIMEOUT_MS / 1000} s`;
    return `no full line within ${FIRST_LINE_MS / 1000} s`;
  }

  private dispatch(line: string, body: string): void {
    this.stage = "processing";
    this.cancelDeadline();
    const work = () => answer(line, body, this.hooks.services, this.hooks.internalError);
    const scheduled = answersAtOnce(line) ? work().then((value) => ({ ran: true as const, value })) : this.hooks.schedule(work, READ_TIMEOUT_MS);
    scheduled
      .then((outcome) => {
        if (!outcome.ran) return this.send(errorAnswer("busy"));
        this.hooks.served(commandWord(line), this.hooks.clock.now() - this.startedAt, outcome.value.text.startsWith("ERROR") ? "error" : "ok");
        this.send(outcome.value);
      })
      .catch((error: unknown) => {
        // Whatever failed, the client gets one line and the slot is freed.
        this.hooks.internalError(error);
        this.send(errorAnswer("internal error; the server log has the details"));
      });
  }

  private reply(result: Answer): void {
    if (this.stage !== "reading") return;
    this.cancelDeadline();
    this.send(result);
  }

  private send(result: Answer): void {
    if (this.stage === "done") return;
    this.stage = "writing";
    if (result.shutdown) this.hooks.shutdownRequested();
    this.unsent = Buffer.from(result.text);
    this.flush();
    // A client that does not read the rest of its answer must not hold the connection for ever.
    if (this.stage === "writing") this.cancelDeadline = this.hooks.clock.after(READ_TIMEOUT_MS, () => this.close());
  }

  /** A socket may take only part of the data; the rest goes on drain. */
  private flush(): void {
    const data = this.unsent!;
    let written: number;
    try {
      written = this.socket.write(data);
    } catch {
      written = -1;
    }
    if (written < 0) return this.close();
    if (written < data.length) {
      this.unsent = data.subarray(written);
      return;
    }
    this.unsent = undefined;
    this.close();
  }

  private close(): void {
    if (this.stage === "done") return;
    this.stage = "done";
    this.cancelDeadline();
    try {
      this.socket.end();
    } catch {
      // Already closed.
    }
    this.hooks.finished();
  }
}

/** The request's first word, safe for a log line: printable ASCII, at most 40 characters. */
function commandWord(line: string): string {
  const word = line.split(" ", 1)[0] ?? "";
  return (word.length > 40 ? `${word.slice(0, 40)}...` : word).replace(/[^\x20-\x7e]/g, "?");
}

/** The text of `bytes`, or undefined when they are not valid UTF-8. */
function decode(bytes: Uint8Array): string | undefined {
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}
