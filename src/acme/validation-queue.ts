/**
 * @module Validation off the request path: a challenge POST waits for the
 * check at most a moment (orders.ts) and the check runs here, at most
 * `concurrency` at a time per worker, each attempt with the validator's
 * timeout; a network failure is tried again after a pause, a wrong answer
 * is final.
 */

import { AcmeProblem, problem } from "./problem.ts";
import { ValidationFailure } from "./validators.ts";

export interface QueueOptions {
  /** Validations running at once in this worker (default 8). */
  concurrency?: number;
  /** Attempts when the network fails (default 3). */
  attempts?: number;
  /** Pause between attempts (default 2 s). */
  retryDelayMs?: number;
}

export class ValidationQueue {
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  private readonly concurrency: number;
  private readonly attempts: number;
  private readonly retryDelayMs: number;
  /** Validations not yet finished, so a test or a draining worker can wait for them. */
  readonly inFlight = new Set<Promise<void>>();

  constructor(options: QueueOptions = {}) {
    this.concurrency = options.concurrency ?? 8;
    this.attempts = options.attempts ?? 3;
    this.retryDelayMs = options.retryDelayMs ?? 2000;
  }

  /** Runs `check` with retries and hands the outcome to `done`; the promise settles (never rejects) once `done` has run. */
  enqueue(check: () => Promise<void>, done: (error?: AcmeProblem) => Promise<void>): Promise<void> {
    const job = (async () => {
      await this.slot();
      let outcome: AcmeProblem | undefined;
      try {
        for (let attempt = 1; ; attempt++) {
          try {
            await check();
            outcome = undefined;
            break;
          } catch (error) {
            if (!(error instanceof ValidationFailure)) {
              outcome = problem("serverInternal", `validation failed: ${(error as Error).message}`);
              break;
            }
            outcome = error.problem;
            if (!error.retry || attempt >= this.attempts) break;
            await Bun.sleep(this.retryDelayMs);
          }
        }
      } finally {
        this.release();
      }
      await done(outcome).catch((error) => console.error(`acme: cannot record a validation: ${(error as Error).message}`));
    })();
    this.inFlight.add(job);
    void job.finally(() => this.inFlight.delete(job));
    return job;
  }

  private async slot(): Promise<void> {
    if (this.running < this.concurrency) {
      this.running++;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.running--;
  }
}
