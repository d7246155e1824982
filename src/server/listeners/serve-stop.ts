/**
 * @module
 * How a `Bun.serve` listener stops, the same for every kind that serves
 * HTTP (`http`: `public-listener.ts`; `https`:
 * `https.ts`, both beside this file). A graceful stop (QUIT, HUP, TTOU, the
 * lifeline):
 *
 * 1. for CLOSE_GRACE_MS the listener still answers, every answer with
 *    `Connection: close`: a busy keep-alive client learns from an answer
 *    to reconnect (to another worker), not from a closed socket;
 * 2. then the listening socket closes (queued connections move to the
 *    other workers with tcp_migrate_req=1), idle keep-alive connections are
 *    closed, and requests in flight complete (Bun's `stop(false)`);
 * 3. the drain ends once nothing is being answered and the last answer
 *    has had FLUSH_MS to reach the wire: `stop(false)` resolves when answers
 *    are handed to the socket (or to TLS), and a worker exiting then lost some.
 *
 * Each request being answered, and the drain as a whole, count as work in
 * flight (`begin`), so the worker exits only after them.
 */
import type { Server } from "bun";

/** How long a stopping listener keeps answering (each answer with Connection: close) before it closes. */
export const CLOSE_GRACE_MS = 250;
/** How long the drain lasts after the last answer left the handler, for it to reach the client. */
export const FLUSH_MS = 250;

const POLL_MS = 25;

export class ServeDrain {
  private answering = 0;
  private lastAnswerAt = -Infinity;
  private drained: Promise<void> | undefined;

  /** `begin` marks work in flight (the worker's `ListenerContext.begin`) and returns its end. */
  constructor(private readonly begin: () => () => void = () => () => {}) {}

  get stopping(): boolean {
    return this.drained !== undefined;
  }

  /** Requests being answered now. */
  get pending(): number {
    return this.answering;
  }

  /** Answers one request with `work`: counted in flight; `Connection: close` once stopping. */
  async answer(work: () => Response | Promise<Response>): Promise<Response> {
    this.answering++;
    const done = this.begin();
    try {
      const response = await work();
      if (this.stopping) response.headers.set("Connection", "close");
      return response;
    } finally {
      this.answering--;
      this.lastAnswerAt = performance.now();
      done();
    }
  }

  /** The graceful stop of `server` (see the module comment); resolves when drained. Later calls share the first. */
  stop(server: Server<undefined>): Promise<void> {
    this.drained ??= this.drain(server);
    return this.drained;
  }

  private async drain(server: Server<undefined>): Promise<void> {
    const done = this.begin();
    try {
      await Bun.sleep(CLOSE_GRACE_MS);
      await server.stop(false);
      while (this.answering > 0 || performance.now() - this.lastAnswerAt < FLUSH_MS) await Bun.sleep(POLL_MS);
    } finally {
      done();
    }
  }
}
