// The child's side of the process protocol (src/server/child-process.ts) in
// a real child process with a real stdin pipe: the handed-over key first,
// then orders, then the end; a child whose stdin ends before the key exits;
// messages are JSON lines, `log` filtered by level; `fatal` exits 1.
import { expect, test } from "bun:test";
import { join } from "node:path";
import { keyHandoffLine } from "../src/server/key-handoff.ts";
import { BUN, ROOT } from "./helpers.ts";

const MODULE = join(ROOT, "src", "server", "child-process.ts");

/** A child that reads its lifeline and reports on stdout what it got, as messages. */
const LIFELINE_CHILD = `
import { logAbove, readLifeline, send } from ${JSON.stringify(MODULE)};
const log = logAbove("info");
const key = await readLifeline({
  caKeyOnStdin: process.env.WITH_KEY === "1",
  order: (line) => log("info", "order " + line),
  ended: () => { log("info", "ended"); process.exit(0); },
});
log("debug", "not sent: below the level");
log("info", "keys " + JSON.stringify(key ?? null));
send({ t: "ready" });
`;

function spawnChild(script: string, env: Record<string, string> = {}) {
  return Bun.spawn([BUN, "-e", script], { stdin: "pipe", stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
}

async function messagesOf(child: ReturnType<typeof spawnChild>): Promise<unknown[]> {
  const text = await new Response(child.stdout).text();
  return text.split("\n").filter(Boolean).map((line) => JSON.parse(line));
}

test("the key comes first, later lines are orders (trimmed), the end is told once", async () => {
  const child = spawnChild(LIFELINE_CHILD, { WITH_KEY: "1" });
  const pem = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
  // Key and an order in one write: the order must not be lost to the key's reader.
  child.stdin.write(`${keyHandoffLine({ ca: pem, ssh: { user: "user key", host: "host key" } })}\nrestore \n`);
  await child.stdin.flush();
  await Bun.sleep(200);
  child.stdin.write("rest");
  child.stdin.write("ore\n");
  await child.stdin.end();
  expect(await child.exited).toBe(0);
  // The order that came with the key is read before the awaiting code resumes.
  expect(await messagesOf(child)).toEqual([
    { t: "log", level: "info", message: "order restore" },
    { t: "log", level: "info", message: `keys ${JSON.stringify({ ca: pem, ssh: { user: "user key", host: "host key" } })}` },
    { t: "ready" },
    { t: "log", level: "info", message: "order restore" },
    { t: "log", level: "info", message: "ended" },
  ]);
});

test("without a key to wait for, the lifeline resolves at once and its end is told", async () => {
  const child = spawnChild(LIFELINE_CHILD);
  await Bun.sleep(300);
  await child.stdin.end();
  expect(await child.exited).toBe(0);
  expect(await messagesOf(child)).toEqual([
    { t: "log", level: "info", message: "keys null" },
    { t: "ready" },
    { t: "log", level: "info", message: "ended" },
  ]);
});

test("a child whose stdin ends before the key exits at once, telling nothing", async () => {
  const child = spawnChild(LIFELINE_CHILD, { WITH_KEY: "1" });
  await child.stdin.end();
  expect(await child.exited).toBe(0);
  expect(await messagesOf(child)).toEqual([]);
});

test("a first line that is no key is not taken for one: the child exits", async () => {
  const child = spawnChild(LIFELINE_CHILD, { WITH_KEY: "1" });
  child.stdin.write("restore\n");
  await child.stdin.flush();
  expect(await child.exited).toBe(0);
  expect(await messagesOf(child)).toEqual([]);
});

test("fatal sends a DepotError's message, or what failed and why, then exits 1", async () => {
  const errors = join(ROOT, "src", "errors.ts");
  for (const [thrown, message] of [
    [`new DepotError("E_SERVER", "the port is taken")`, "the port is taken"],
    [`new Error("boom")`, "cannot open the depot /x: boom"],
  ]) {
    const child = spawnChild(`
      import { fatal } from ${JSON.stringify(MODULE)};
      import { DepotError } from ${JSON.stringify(errors)};
      fatal(${thrown}, "cannot open the depot /x");
    `);
    expect(await child.exited).toBe(1);
    expect(await messagesOf(child)).toEqual([{ t: "fatal", message }]);
  }
});
