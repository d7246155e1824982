// IdleTrim: one full collection once QUIET_TICKS whole ticks in a row pass without a request after some were served.
import { afterAll, afterEach, expect, spyOn, test } from "bun:test";
import { IdleTrim, QUIET_TICKS } from "../src/server/idle-trim.ts";

const gc = spyOn(Bun, "gc").mockImplementation(() => 0);
afterEach(() => gc.mockClear());
// The test files share one process: every other file gets the real Bun.gc back.
afterAll(() => gc.mockRestore());

const ticks = (trim: IdleTrim, n: number) => {
  for (let i = 0; i < n; i++) trim.tick();
};

test("a tick with requests served waits; the third quiet tick after it collects once; quiet ticks after that do nothing", () => {
  expect(QUIET_TICKS).toBe(3);
  const trim = new IdleTrim(() => false);
  ticks(trim, 5);
  expect(gc).not.toHaveBeenCalled(); // nothing served yet: nothing owed
  trim.served();
  trim.tick();
  expect(gc).not.toHaveBeenCalled(); // still serving during this tick
  ticks(trim, QUIET_TICKS - 1);
  expect(gc).not.toHaveBeenCalled(); // a gap between requests, not yet a pause
  trim.tick();
  expect(gc).toHaveBeenCalledTimes(1);
  expect(gc).toHaveBeenCalledWith(true);
  ticks(trim, 5);
  expect(gc).toHaveBeenCalledTimes(1);
});

test("requests a second or two apart never collect: each one starts the quiet count again", () => {
  const trim = new IdleTrim(() => false);
  for (let i = 0; i < 20; i++) {
    trim.served();
    trim.tick();
    ticks(trim, (i % 2) + 1);
  }
  expect(gc).not.toHaveBeenCalled();
  ticks(trim, QUIET_TICKS);
  expect(gc).toHaveBeenCalledTimes(1);
});

test("a request in flight at the last quiet tick puts the collection off until it is done", () => {
  let inFlight = 1;
  const trim = new IdleTrim(() => inFlight > 0);
  trim.served();
  ticks(trim, 1 + QUIET_TICKS + 2);
  expect(gc).not.toHaveBeenCalled();
  inFlight = 0;
  trim.tick();
  expect(gc).toHaveBeenCalledTimes(1);
});
