/**
 * @module The kernel's part in worker replacement: `bun bench/reuseport-close.ts [--seconds 10] [--clients 8] [--migrate-req 1]`.
 *
 * No depot here, only bare `Bun.listen` with reusePort, as depot's workers
 * listen: one listener stays, another process opens a listener, closes it
 * 3 ms later and opens the next, over and over, while `--clients` loops
 * connect, send a line and read the answer. With net.ipv4.tcp_migrate_req=1
 * (`--migrate-req`, set for the run when root, then restored) a closing listener's queued
 * connections move to the one that stays, yet a handshake that completes
 * on the listener just as it closes is still reset by the kernel: the
 * client sees ECONNRESET at connect, and no process ever saw the
 * connection. This prints how often, per thousand closes, so a kernel that
 * fixes it shows up as zero. Measured on 6.18 (2 cores, 8 clients, 5-15 s):
 * 14-18 failed connections per thousand closes with the sysctl at 1, every
 * one in the kernel's TcpEstabResets; 318-364 at 0.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { freePort } from "./_ports.ts";

const MIGRATE_REQ = "/proc/sys/net/ipv4/tcp_migrate_req";
const role = process.env.REUSEPORT_CLOSE_ROLE;

/** Serve: answer every line with "ok" and close. A "flip" listener closes and reopens until killed, counting its closes on stdout. */
async function serve(port: number, flip: boolean): Promise<void> {
  const socket = { data: (client: import("bun").Socket) => void client.end("ok\n") };
  const listen = () => Bun.listen({ hostname: "127.0.0.1", port, reusePort: true, socket } as unknown as Bun.TCPSocketListenOptions);
  let listener = listen();
  console.log("listening");
  if (!flip) return;
  for (let closes = 1; ; closes++) {
    await Bun.sleep(3);
    listener.stop(false);
    console.log(closes);
    await Bun.sleep(1);
    listener = listen();
  }
}

/** One connection: "ok", or what went wrong with it. */
function exchange(port: number): Promise<string> {
  return new Promise((resolve) => {
    let answer = "";
    let settled = false;
    const settle = (outcome: string) => {
      if (settled) return;
      settled = true;
      resolve(outcome);
    };
    Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        open: (client) => void client.write("x\n"),
        data: (_client, chunk) => void (answer += chunk.toString()),
        close: (_client, error) =>
          settle(error ? `closed by ${(error as NodeJS.ErrnoException).code ?? error.message} after ${JSON.stringify(answer)}` : answer === "ok\n" ? "ok" : `answer ${JSON.stringify(answer)}`),
        error: (_client, error) => settle(`error ${(error as NodeJS.ErrnoException).code ?? error.message}`),
        connectError: (_client, error) => settle(`connect error ${(error as NodeJS.ErrnoException).code ?? error.message}`),
      },
    }).catch((error: NodeJS.ErrnoException) => settle(`connect error ${error.code ?? error.message}`));
  });
}

/** Collects a child's stdout lines into `lines`; resolves once it says it listens. */
async function started(child: Bun.Subprocess<"ignore", "pipe", "inherit">, lines: string[]): Promise<void> {
  void (async () => {
    const decoder = new TextDecoder();
    let buffered = "";
    for await (const chunk of child.stdout) {
      buffered += decoder.decode(chunk, { stream: true });
      const parts = buffered.split("\n");
      buffered = parts.pop()!;
      lines.push(...parts);
    }
  })();
  while (!lines.includes("listening")) await Bun.sleep(10);
}

async function main(): Promise<void> {
  const { values: flags } = parseArgs({ options: { seconds: { type: "string", default: "10" }, clients: { type: "string", default: "8" }, "migrate-req": { type: "string", default: "1" } } });
  const port = freePort();
  const original = readFileSync(MIGRATE_REQ, "utf8").trim();
  let migrate = original;
  try {
    writeFileSync(MIGRATE_REQ, flags["migrate-req"]);
    migrate = flags["migrate-req"];
  } catch {
    // Not root: measure with the machine's setting.
  }
  const spawn = (flip: boolean) =>
    Bun.spawn([process.execPath, import.meta.path], { env: { ...process.env, REUSEPORT_CLOSE_ROLE: flip ? "flip" : "steady", PORT: String(port) }, stdout: "pipe" });
  const steady = spawn(false);
  const flipper = spawn(true);
  const steadyLines: string[] = [];
  const flipLines: string[] = [];
  try {
    await started(steady, steadyLines);
    await started(flipper, flipLines);
    const outcomes = new Map<string, number>();
    const until = performance.now() + Number(flags.seconds) * 1000;
    await Promise.all(
      Array.from({ length: Number(flags.clients) }, async () => {
        while (performance.now() < until) {
          const outcome = await exchange(port);
          outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
        }
      }),
    );
    const closes = Number(flipLines.at(-1)) || 0;
    const failed = [...outcomes].filter(([outcome]) => outcome !== "ok").reduce((sum, [, count]) => sum + count, 0);
    console.log(`kernel ${readFileSync("/proc/sys/kernel/osrelease", "utf8").trim()}, tcp_migrate_req=${migrate}, ${flags.clients} clients, ${flags.seconds} s`);
    console.log(`${closes} listener closes, ${outcomes.get("ok") ?? 0} answered, ${failed} failed: ${JSON.stringify(Object.fromEntries([...outcomes].filter(([outcome]) => outcome !== "ok")))}`);
    console.log(`${closes ? ((failed / closes) * 1000).toFixed(1) : "n/a"} failed connections per thousand closes`);
  } finally {
    steady.kill();
    flipper.kill();
    if (migrate !== original) writeFileSync(MIGRATE_REQ, original);
  }
}

if (role) await serve(Number(process.env.PORT), role === "flip");
else await main();
