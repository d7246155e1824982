/**
 * @module
 * How much work a worker takes on at once. Requests beyond `limit` wait in
 * arrival order, as connections would in a listen backlog; one that waits
 * longer than its `maxWaitMs` is let go without running.
 */
import type { Clock } from "../clock.ts";
import type { Schedule } from "../line/connection.ts";

export class Gate {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly limit: number,
    private readonly clock: Clock,
  ) {}

  get load(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }

  readonly schedule: Schedule = async (work, maxWaitMs) => {
    if (this.running >= this.limit && !(await this.slot(maxWaitMs))) return { ran: false };
    this.running++;
    try {
      return { ran: true, value: await work() };
    } finally {
      this.running--;
      this.waiting.shift()?.();
    }
  };

  /** Waits for a slot; false when `maxWaitMs` passed first. */
  private slot(maxWaitMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const take = () => {
        cancel();
        resolve(true);
      };
      const cancel = this.clock.after(maxWaitMs, () => {
        const at = this.waiting.indexOf(take);
        if (at !== -1) this.waiting.splice(at, 1);
        resolve(false);
      });
      this.waiting.push(take);
    });
  }
}
