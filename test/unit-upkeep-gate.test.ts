// The upkeep's gate: ledger work after a change or once the clock check is due, none in between.
import { expect, test } from "bun:test";
import { UpkeepGate } from "../src/server/upkeep-gate.ts";

test("the first turn works; a turn with the ledger as it was and the clock check ahead does not", () => {
  const gate = new UpkeepGate(60_000);
  expect(gate.due(7, 1_000)).toBe(true);
  gate.worked(7, 1_000);
  expect(gate.due(7, 1_400)).toBe(false);
  expect(gate.due(7, 60_999)).toBe(false);
});

test("a change to the ledger, or the clock check, makes the next turn work", () => {
  const gate = new UpkeepGate(60_000);
  gate.worked(7, 1_000);
  expect(gate.due(8, 1_400)).toBe(true);
  expect(gate.due(7, 61_000)).toBe(true);
  // What the turn started from is what counts: a write during it makes the next one due.
  gate.worked(8, 1_400);
  expect(gate.due(9, 1_800)).toBe(true);
  expect(gate.due(8, 1_800)).toBe(false);
});
