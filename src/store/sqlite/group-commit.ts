/**
 * @module
 * Group commit: the certificates a process records while its previous write
 * waits (for the next turn of the event loop, or for the lock another
 * worker holds) go into the ledger in one transaction. Each caller's promise
 * settles only after that transaction commits, so no certificate is
 * answered before its row is durable, as with one transaction each; but the
 * table's and its indexes' pages, the WAL frames and the locks are shared
 * by the whole group (profiled: 34 of a worker's 50 syscalls per
 * certificate were SQLite's, one transaction per certificate).
 */
import { BUSY_DEADLINE_MS, busyBackoffMs, isBusy } from "./busy.ts";

interface Waiting<T> {
  item: T;
  since: number;
  settle: (failure: unknown) => void;
}

export class GroupCommit<T> {
  private waiting: Waiting<T>[] = [];
  private scheduled = false;

  /**
   * @param commit writes a group in one transaction and returns, for each
   *   item in order, undefined when it was written or the error refusing
   *   that item alone (the rest still commit). Throwing fails the whole group.
   * @param failure turns a thrown error into what every caller of the group is told.
   */
  constructor(
    private readonly commit: (items: T[]) => (unknown | undefined)[],
    private readonly failure: (error: unknown) => unknown = (error) => error,
  ) {}

  /** Resolves once `item` is committed; rejects with its own refusal or the group's failure. */
  add(item: T): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ item, since: performance.now(), settle: (failure) => (failure === undefined ? resolve() : reject(failure)) });
      if (!this.scheduled) {
        this.scheduled = true;
        // The requests this turn of the event loop read all join the group.
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    while (this.waiting.length > 0) {
      // Everything waiting now, including what arrived during a busy wait.
      const group = this.waiting;
      let outcomes: (unknown | undefined)[];
      try {
        outcomes = this.commit(group.map((w) => w.item));
      } catch (error) {
        // The group has waited since its first item arrived: the deadline and the backoff count from there.
        const waitedMs = performance.now() - group[0]!.since;
        if (isBusy(error) && waitedMs < BUSY_DEADLINE_MS) {
          await Bun.sleep(busyBackoffMs(waitedMs));
          continue;
        }
        this.waiting = [];
        const told = this.failure(error);
        for (const waiting of group) waiting.settle(told);
        continue;
      }
      this.waiting = [];
      group.forEach((waiting, i) => waiting.settle(outcomes[i]));
    }
    this.scheduled = false;
  }
}
