/**
 * @module
 * A closed loop of HTTPS POSTs for the benches that compare servers over
 * their APIs: `count` requests with `concurrency` in flight on keep-alive
 * connections (Bun's fetch pools them), bodies prepared by the caller before
 * the clock starts. It keeps each answer's status and text for the caller to
 * check after the timed window, so checking takes no CPU from the server
 * while it is measured.
 */

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

export async function postLoad(load: PostLoad): Promise<PostAnswers> {
  const answers: PostAnswers["answers"] = new Array(load.bodies.length);
  const latenciesMs: number[] = [];
  let next = 0;
  const started = performance.now();
  async function loop() {
    while (next < load.bodies.length) {
      const i = next++;
      const t0 = performance.now();
      try {
        const response = await fetch(load.url, {
          method: "POST",
          headers: { "content-type": "application/json", ...load.headers },
          body: load.bodies[i],
          tls: { ca: load.caPem },
          keepalive: true,
          signal: AbortSignal.timeout(30_000),
        });
        answers[i] = { status: response.status, text: await response.text() };
      } catch (error) {
        answers[i] = { status: 0, text: (error as Error).message };
      }
      latenciesMs.push(performance.now() - t0);
    }
  }
  await Promise.all(Array.from({ length: Math.min(load.concurrency, load.bodies.length) }, loop));
  const wallSeconds = (performance.now() - started) / 1000;
  latenciesMs.sort((a, b) => a - b);
  return { answers, wallSeconds, latenciesMs };
}

/** The q-quantile of sorted values (0 when there are none). */
export function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}
