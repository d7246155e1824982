/**
 * @module `settleWithin`: a promise raced against a deadline whose timer is
 * cleared the moment the promise settles. `Promise.race([work,
 * Bun.sleep(ms)])` leaves the sleep to fire later for nothing, and each such
 * timer wakes an idle event loop: an ACME worker between lego's orders paid
 * two of them an order (the challenge POST's quick wait and the DNS
 * lookup's timeout) out of about 16 wake-ups.
 */

/** What `work` settles with, or, once `ms` have passed without that, what `onTimeout` returns or throws. */
export function settleWithin<T, U>(work: Promise<T>, ms: number, onTimeout: () => U | Promise<U>): Promise<T | U> {
  return new Promise<T | U>((resolve, reject) => {
    const timer = setTimeout(() => {
      try {
        resolve(onTimeout());
      } catch (error) {
        reject(error);
      }
    }, ms);
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
