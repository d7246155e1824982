import type { Socket } from "bun";
import { answer, type Answer, CSR_END, errorAnswer, expectsBody, MAX_BODY_BYTES, MAX_LINE_BYTES, READ_TIMEOUT_MS, type Services } from "./protocol.ts";

const utf8 = new TextDecoder("utf-8", { fatal: true });

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

/**
 * One client connection: collect bytes up to the first line ending (at most
 * 8 KiB, within 10 s; for `sign`, on to the end of the PEM request, at most
 * 16 KiB more), answer, write the whole answer, close. Whatever the
 * client sends, it ends with one answer and a closed socket.
 */
export interface ConnectionHooks {
  services: Services;
  /** Called once per connection, when its answer is written or the client left. */
  finished(): void;
  /** An answer asked the worker to stop (the `shutdown` command). */
  shutdownRequested(): void;
  internalError(error: unknown): void;
  /** For the debug log and the metrics: the request's command, how long it took, and whether it was answered ERROR. */
  served(command: string, milliseconds: number, outcome: "ok" | "error"): void;
}

export class Connection {
  private received: Buffer[] = [];
  private receivedBytes = 0;
  private answered = false;
  private finished = false;
  private unsent: Buffer | undefined;
  private readonly timer: Timer;
  private readonly startedAt = performance.now();

  constructor(
    private readonly socket: Socket<Connection>,
    private readonly hooks: ConnectionHooks,
  ) {
    this.timer = setTimeout(() => this.reply(errorAnswer(this.timeoutReason())), READ_TIMEOUT_MS);
  }

  onData(chunk: Buffer): void {
    if (this.answered) return;
    this.received.push(chunk);
    this.receivedBytes += chunk.length;
    const bytes = this.received.length === 1 ? chunk : Buffer.concat(this.received);
    this.received = [bytes];

    // The limit counts the line without its ending, LF or CRLF alike.
    const newline = bytes.indexOf(10);
    const lineEnd = newline === -1 ? bytes.length - (bytes.at(-1) === 13 ? 1 : 0) : bytes[newline - 1] === 13 ? newline - 1 : newline;
    if (lineEnd > MAX_LINE_BYTES) return this.reply(errorAnswer(`request line longer than ${MAX_LINE_BYTES} bytes`));
    if (newline === -1) return;
    const line = decode(bytes.subarray(0, lineEnd));
    if (line === undefined) return this.reply(errorAnswer("request is not valid UTF-8"));
    if (!expectsBody(line)) return this.dispatch(line, "");

    // sign: the PEM request follows, up to its END line.
    const rest = bytes.subarray(newline + 1);
    if (rest.length > MAX_BODY_BYTES) return this.reply(errorAnswer(`certificate request is larger than ${MAX_BODY_BYTES / 1024} KiB`));
    const body = decode(rest);
    if (body === undefined) return this.reply(errorAnswer("request is not valid UTF-8"));
    const end = body.indexOf(CSR_END);
    if (end !== -1 && body.indexOf("\n", end) !== -1) this.dispatch(line, body);
  }

  private dispatch(line: string, body: string): void {
    this.answered = true;
    clearTimeout(this.timer);
    answer(line, body, this.hooks.services, this.hooks.internalError)
      .then((result) => {
        this.hooks.served(commandWord(line), performance.now() - this.startedAt, result.text.startsWith("ERROR") ? "error" : "ok");
        this.send(result);
      })
      .catch((error: unknown) => {
        // Whatever failed, the client gets one line and the slot is freed.
        this.hooks.internalError(error);
        try {
          this.send(errorAnswer("internal error; the server log has the details"));
        } catch {
          this.socket.end();
          this.finish();
        }
      });
  }

  /** Why the request was cut off: no line yet, or a `sign` whose PEM never ended. */
  private timeoutReason(): string {
    const seconds = READ_TIMEOUT_MS / 1000;
    const bytes = this.received.length === 1 ? this.received[0]! : Buffer.concat(this.received);
    const newline = bytes.indexOf(10);
    const firstLine = newline === -1 ? undefined : decode(bytes.subarray(0, newline).filter((b) => b !== 13));
    if (firstLine !== undefined && expectsBody(firstLine)) return `the certificate request did not reach its ${CSR_END} line within ${seconds} s`;
    return `no full line within ${seconds} s`;
  }

  /** The client went away (or the socket failed). */
  onClose(): void {
    clearTimeout(this.timer);
    this.answered = true;
    this.finish();
  }

  onDrain(): void {
    if (this.unsent) this.flush();
  }

  private reply(result: Answer): void {
    if (this.answered) return;
    this.answered = true;
    clearTimeout(this.timer);
    this.send(result);
  }

  private send(result: Answer): void {
    if (this.finished) return;
    if (result.shutdown) this.hooks.shutdownRequested();
    this.unsent = Buffer.from(result.text);
    this.flush();
  }

  /** Bun's socket.write may take only part of the data; the rest goes on drain. */
  private flush(): void {
    const data = this.unsent!;
    const written = this.socket.write(data);
    if (written < 0) {
      this.socket.end();
      this.finish();
    } else if (written < data.length) {
      this.unsent = data.subarray(written);
    } else {
      this.unsent = undefined;
      this.socket.end();
      this.finish();
    }
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.hooks.finished();
  }
}
