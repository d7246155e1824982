/**
 * @module
 * A closed loop of HTTPS POSTs for the benches that compare servers over
 * their APIs: `count` requests with `concurrency` in flight, each loop on
 * its own keep-alive connection, bodies prepared by the caller before the
 * clock starts. It keeps each answer's status and text for the caller to
 * check after the timed window, so checking takes no CPU from the server
 * while it is measured.
 *
 * The client speaks HTTP/1.1 itself over `Bun.connect` with TLS, as wrk or
 * h2load would: Bun's fetch spent about 75 µs of the shared two cores per
 * request, this about a third of that, so more of the machine measures the
 * server. It sends Content-Length bodies and reads Content-Length or
 * chunked answers; an answer with `Connection: close` (or a dropped
 * connection between requests) opens a new connection.
 */
import type { Socket } from "bun";

export interface PostLoad {
  url: string;
  headers: Record<string, string>;
  /** One body per request, made beforehand (a CSR, a one-time token). */
  bodies: string[];
  concurrency: number;
  /** The server's CA certificate (PEM) to trust. */
  caPem: string;
}

export interface PostAnswers {
  /** Per request: the HTTP status (0: no answer) and the body or the failure. */
  answers: { status: number; text: string }[];
  wallSeconds: number;
  /** Sorted, ms. */
  latenciesMs: number[];
}

const TIMEOUT_MS = 30_000;

export async function postLoad(load: PostLoad): Promise<PostAnswers> {
  const url = new URL(load.url);
  const head = [`POST ${url.pathname}${url.search} HTTP/1.1`, `host: ${url.host}`, "content-type: application/json", ...Object.entries(load.headers).map(([k, v]) => `${k}: ${v}`)].join("\r\n");
  const answers: PostAnswers["answers"] = new Array(load.bodies.length);
  const latenciesMs: number[] = [];
  let next = 0;
  const started = performance.now();
  async function loop() {
    let connection: Connection | undefined;
    while (next < load.bodies.length) {
      const i = next++;
      const t0 = performance.now();
      const body = Buffer.from(load.bodies[i]!);
      const request = Buffer.concat([Buffer.from(`${head}\r\ncontent-length: ${body.length}\r\n\r\n`), body]);
      try {
        connection ??= await Connection.open(url, load.caPem);
        const answer = await connection.exchange(request);
        answers[i] = { status: answer.status, text: answer.text };
        if (answer.close) {
          connection.end();
          connection = undefined;
        }
      } catch (error) {
        answers[i] = { status: 0, text: (error as Error).message };
        connection?.end();
        connection = undefined;
      }
      latenciesMs.push(performance.now() - t0);
    }
    connection?.end();
  }
  await Promise.all(Array.from({ length: Math.min(load.concurrency, load.bodies.length) }, loop));
  const wallSeconds = (performance.now() - started) / 1000;
  latenciesMs.sort((a, b) => a - b);
  return { answers, wallSeconds, latenciesMs };
}

interface Answer {
  status: number;
  text: string;
  /** The server said `Connection: close`. */
  close: boolean;
}

/** One keep-alive TLS connection carrying one request at a time. */
class Connection {
  private buffered: Buffer = Buffer.alloc(0);
  private unsent: Buffer = Buffer.alloc(0);
  private waiting: { resolve: (answer: Answer) => void; reject: (error: Error) => void; timer: Timer } | undefined;
  private closed: Error | undefined;
  private socket!: Socket<undefined>;

  static async open(url: URL, caPem: string): Promise<Connection> {
    const connection = new Connection();
    const { promise: ready, resolve, reject } = Promise.withResolvers<void>();
    connection.socket = await Bun.connect({
      hostname: url.hostname,
      port: Number(url.port || 443),
      tls: { ca: caPem, serverName: url.hostname },
      socket: {
        handshake: (_socket, success, error) => (success ? resolve() : reject(new Error(`TLS handshake: ${error?.message ?? "refused"}`))),
        data: (_socket, data) => connection.received(data),
        drain: () => connection.flush(),
        close: () => {
          reject(new Error("closed before the TLS handshake"));
          connection.fail(new Error("the server closed the connection"));
        },
        error: (_socket, error) => {
          reject(error);
          connection.fail(error);
        },
      },
    });
    await ready;
    return connection;
  }

  exchange(request: Buffer): Promise<Answer> {
    if (this.closed) return Promise.reject(this.closed);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.fail(new Error("timed out")), TIMEOUT_MS);
      this.waiting = { resolve, reject, timer };
      this.unsent = request;
      this.flush();
    });
  }

  /** Writes what the socket takes now; `drain` calls again for the rest. */
  flush(): void {
    if (this.unsent.length === 0) return;
    const written = this.socket.write(this.unsent);
    this.unsent = this.unsent.subarray(Math.max(written, 0));
  }

  end(): void {
    this.closed ??= new Error("closed");
    this.socket.end();
  }

  private received(data: Buffer): void {
    // Concatenating copies: what is kept past this call is never Bun's own buffer.
    const bytes = this.buffered.length === 0 ? data : Buffer.concat([this.buffered, data]);
    const answer = parseAnswer(bytes);
    this.buffered = Buffer.from(answer ? bytes.subarray(answer.length) : bytes);
    if (!answer || !this.waiting) return;
    const { resolve, timer } = this.waiting;
    this.waiting = undefined;
    clearTimeout(timer);
    resolve(answer.answer);
  }

  private fail(error: Error): void {
    this.closed ??= error;
    const waiting = this.waiting;
    this.waiting = undefined;
    if (waiting) {
      clearTimeout(waiting.timer);
      waiting.reject(error);
    }
  }
}

/** A whole answer at the start of `bytes` and its length in bytes, or undefined while it is still arriving. */
export function parseAnswer(bytes: Buffer): { answer: Answer; length: number } | undefined {
  const end = bytes.indexOf("\r\n\r\n");
  if (end < 0) return undefined;
  // Header names are case-insensitive: read the block once, lower-cased.
  const head = bytes.toString("latin1", 0, end).toLowerCase();
  const status = Number(head.slice(9, 12));
  const close = /\r\nconnection: *close/.test(head);
  const start = end + 4;
  if (/\r\ntransfer-encoding:[^\r]*chunked/.test(head)) {
    const chunks: Buffer[] = [];
    for (let at = start; ; ) {
      const lineEnd = bytes.indexOf("\r\n", at);
      if (lineEnd < 0) return undefined;
      const size = parseInt(bytes.toString("latin1", at, lineEnd), 16);
      if (bytes.length < lineEnd + 2 + size + 2) return undefined;
      if (size === 0) return { answer: { status, text: Buffer.concat(chunks).toString(), close }, length: lineEnd + 4 };
      chunks.push(bytes.subarray(lineEnd + 2, lineEnd + 2 + size));
      at = lineEnd + 2 + size + 2;
    }
  }
  const length = Number(/\r\ncontent-length: *(\d+)/.exec(head)?.[1] ?? 0);
  if (bytes.length < start + length) return undefined;
  return { answer: { status, text: bytes.toString("utf8", start, start + length), close }, length: start + length };
}

/** The q-quantile of sorted values (0 when there are none). */
export function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}
