/**
 * @module
 * API paging at scale: `bun bench/api-paging.ts [--certificates 100000] [--limit 100]`.
 *
 * Makes a depot of N certificates (rows inserted directly,
 * bench/fill-ledger.ts), then asks the real API handler (`createApi` with
 * the depot's services, as a worker does, without a socket) for
 * `GET /v1/certificates` page by page to the end, and times the first and
 * the last page again (median of 21 each). The cursor starts the ledger's
 * query at its position, so the two should cost the same; a page that
 * skipped from the first row would cost N/limit times the first.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Depot } from "../src/ca/depot.ts";
import { hashToken, newToken } from "../src/ca/tokens.ts";
import { createApi } from "../src/http/api/index.ts";
import { depotApiServices } from "../src/http/api/depot-services.ts";
import { makeLargeDepot } from "./fill-ledger.ts";

const { values } = parseArgs({ options: { certificates: { type: "string", default: "100000" }, limit: { type: "string", default: "100" } } });
const count = Number(values.certificates);
const limit = Number(values.limit);
const dir = mkdtempSync(join(tmpdir(), "depot-bench-paging-"));

try {
  const root = await makeLargeDepot(join(dir, "ca"), { certificates: count, revoked: 0 });
  const depot = await Depot.open(root);
  const token = newToken();
  await depot.ledger.tokens.create(
    { name: "bench", hash: hashToken(token), policy: { admin: true, allow: [] }, createdAt: new Date() },
    { event: "token-create", requester: "cli", token: "bench" },
  );
  const api = createApi(depotApiServices(depot), { internalError: (error) => console.error(error) });
  const page = async (cursor?: string) => {
    const started = performance.now();
    const response = await api(new Request(`https://localhost/v1/certificates?limit=${limit}${cursor ? `&cursor=${cursor}` : ""}`, { headers: { authorization: `Bearer ${token}` } }));
    if (response.status !== 200) throw new Error(`page answered ${response.status}: ${await response.text()}`);
    const body = (await response.json()) as { certificates: unknown[]; next?: string };
    return { ms: performance.now() - started, rows: body.certificates.length, next: body.next };
  };

  // Walk to the end, keeping the cursor of the last full page (the very last may hold a single row).
  const walkStarted = performance.now();
  let pages = 0;
  let rows = 0;
  let cursor: string | undefined;
  let lastCursor: string | undefined;
  do {
    const answer = await page(cursor);
    pages++;
    rows += answer.rows;
    if (answer.rows === limit) lastCursor = cursor;
    cursor = answer.next;
  } while (cursor);
  const walkSeconds = (performance.now() - walkStarted) / 1000;
  // fill-ledger.ts's template certificate is one more.
  if (rows !== count + 1) throw new Error(`the walk saw ${rows} rows of ${count + 1}`);

  const median = async (cursorOf: string | undefined) => {
    const times: number[] = [];
    for (let i = 0; i < 21; i++) times.push((await page(cursorOf)).ms);
    return times.sort((a, b) => a - b)[10]!;
  };
  const first = await median(undefined);
  const last = await median(lastCursor);
  depot.close();
  console.log(
    JSON.stringify({ certificates: count, limit, pages, walkSeconds: +walkSeconds.toFixed(2), firstPageMs: +first.toFixed(2), lastPageMs: +last.toFixed(2), lastOverFirst: +(last / first).toFixed(2) }),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
