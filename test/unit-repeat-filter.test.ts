// RepeatFilter: a burst of the same failure is one log line, then one line
// per quiet period with a count; a different failure, or the burst's end, is news.
import { expect, test } from "bun:test";
import { RepeatFilter } from "../src/server/repeat-filter.ts";

test("the same message is admitted once per quiet period, with the count of those held back", () => {
  let now = 0;
  const filter = new RepeatFilter(60_000, () => now);
  expect(filter.admit("disk full")).toBe("disk full");
  for (let i = 0; i < 1592; i++) expect(filter.admit("disk full")).toBeUndefined();
  now = 60_000;
  expect(filter.admit("disk full")).toBe("disk full (1592 more since the last report)");
  expect(filter.admit("disk full")).toBeUndefined();
});

test("a different message, or a cleared burst, is logged at once", () => {
  let now = 0;
  const filter = new RepeatFilter(60_000, () => now);
  expect(filter.admit("disk full")).toBe("disk full");
  expect(filter.admit("read-only file system")).toBe("read-only file system");
  filter.clear();
  now = 1;
  expect(filter.admit("read-only file system")).toBe("read-only file system");
});
