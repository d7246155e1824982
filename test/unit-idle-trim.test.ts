// IdleTrim: one full collection once a whole tick passes without a request after some were served.
import { afterAll, afterEach, expect, spyOn, test } from "bun:test";
import { IdleTrim } from "../src/server/idle-trim.ts";

const gc = spyOn(Bun, "gc").mockImplementation(() => 0);
afterEach(() => gc.mockClear());
// The test files share one process: every other file gets the real Bun.gc back.
afterAll(() => gc.mockRestore());

test("a tick with requests served waits; the next quiet tick collects once; quiet ticks after it do nothing", () => {
  const trim = new IdleTrim(() => false);
  trim.tick();
  expect(gc).not.toHaveBeenCalled(); // nothing served yet: nothing owed
  trim.served();
  trim.tick();
  expect(gc).not.toHaveBeenCalled(); // still serving during this tick
  trim.tick();
  expect(gc).toHaveBeenCalledTimes(1);
  expect(gc).toHaveBeenCalledWith(true);
  trim.tick();
  trim.tick();
  expect(gc).toHaveBeenCalledTimes(1);
});

test("a request in flight at a quiet tick puts the collection off until it is done", () => {
  let inFlight = 1;
  const trim = new IdleTrim(() => inFlight > 0);
  trim.served();
  trim.tick();
  trim.tick();
  expect(gc).not.toHaveBeenCalled();
  inFlight = 0;
  trim.tick();
  expect(gc).toHaveBeenCalledTimes(1);
});
