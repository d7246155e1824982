// The API's paging (pageOf, src/http/api/depot-services.ts): the ledger is
// asked for the rows after the cursor, one more than a page, so a page's
// cost does not grow with its number (bench/api-paging.ts measures it at
// 100,000 rows); a cursor it did not give out is a 400. Beside these fakes,
// test/api.test.ts walks a real depot's pages through the handler.
import { expect, test } from "bun:test";
import type { CertificateSummary } from "../src/ca/ledger.ts";
import { type PagePosition, pageOf } from "../src/http/api/depot-services.ts";
import { HttpProblem } from "../src/http/problem.ts";

const START = Date.parse("2025-01-01T00:00:00.000Z");
/** 10 records in issue order; two share a notBefore, told apart by serial. */
const RECORDS = Array.from({ length: 10 }, (_, i) => ({
  serial: (0xa0 + i).toString(16),
  notBefore: new Date(START + Math.min(i, 8) * 1000),
})) as CertificateSummary[];

/** A ledger's `each` with after/limit, recording what it was asked. */
function ledger(asked: { after: PagePosition | undefined; take: number }[], honoursAfter = true) {
  return async function* (after: PagePosition | undefined, take: number) {
    asked.push({ after, take });
    const from = honoursAfter && after ? RECORDS.filter((r) => r.notBefore > after.notBefore || (r.notBefore.getTime() === after.notBefore.getTime() && r.serial > after.serial)) : RECORDS;
    yield* honoursAfter ? from.slice(0, take) : from;
  };
}

async function walk(read: ReturnType<typeof ledger>, limit: number): Promise<string[]> {
  const seen: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await pageOf(read, cursor, limit);
    expect(page.certificates.length).toBeLessThanOrEqual(limit);
    seen.push(...page.certificates.map((c) => c.serial));
    cursor = page.next;
  } while (cursor);
  return seen;
}

test("each page asks the ledger for the rows after the cursor, one more than a page", async () => {
  const asked: { after: PagePosition | undefined; take: number }[] = [];
  expect(await walk(ledger(asked), 3)).toEqual(RECORDS.map((r) => r.serial));
  expect(asked.map((a) => a.take)).toEqual([4, 4, 4, 4]);
  expect(asked[0]!.after).toBeUndefined();
  // Each later page starts at the previous page's last record, never at the first row.
  expect(asked.slice(1).map((a) => a.after!.serial)).toEqual([RECORDS[2]!.serial, RECORDS[5]!.serial, RECORDS[8]!.serial]);
  expect(asked[3]!.after!.notBefore.toISOString()).toBe(RECORDS[8]!.notBefore.toISOString());
});

test("a ledger that ignores `after` and `limit` still gives the right pages", async () => {
  expect(await walk(ledger([], false), 4)).toEqual(RECORDS.map((r) => r.serial));
});

test("the cursor keeps its wire format: base64url of [notBefore, serial]", async () => {
  const page = await pageOf(ledger([]), undefined, 2);
  expect(JSON.parse(Buffer.from(page.next!, "base64url").toString())).toEqual([RECORDS[1]!.notBefore.toISOString(), RECORDS[1]!.serial]);
});

test("a cursor this API did not give out is a 400, never a 500", async () => {
  const cursorOf = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  for (const cursor of ["zzz", cursorOf(["not a date", "a0"]), cursorOf(["2025-01-01", "a0"]), cursorOf(["2025-01-01T00:00:00.000Z", "not hex"]), cursorOf(["2025-01-01T00:00:00.000Z"]), cursorOf({})]) {
    const failure = await pageOf(ledger([]), cursor, 2).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(HttpProblem);
    expect({ status: (failure as HttpProblem).status, detail: (failure as HttpProblem).detail }).toEqual({ status: 400, detail: "cursor is not one this API gave out" });
  }
});
