/** @module Small statistics the benches share. */

/** The median; with an even count, the mean of the middle two (taking the upper one once flattered depot in bench/cfssl.ts). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
