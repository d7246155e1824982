/**
 * @module `help` over the line protocol every 50 ms, from a process of its
 * own, while another process loads the server: `probeHelp(port)` starts it
 * and resolves once the first answer came; `stop()` ends it and gives the
 * latencies (ms, ascending).
 *
 * Why a process of its own: probed from the load generator's process, each
 * probe also waited for that process's own work (it opens the connections
 * and checks every certificate), so `bench/run.ts` reported maxima of
 * 50-70 ms under RSA-2048 load; probed apart, the same load gave a max of
 * 13 ms (docs/performance.md, "2026-12-07, afternoon").
 *
 * Run as a script (`bun bench/_help-probe.ts PORT`), it probes until its
 * stdin ends, prints `ready` after the first answer and the sorted
 * latencies as a JSON array last.
 */
import { request } from "./load.ts";

const PAUSE_MS = 50;

export interface HelpProbe {
  /** Ends the probing; the latencies in ms, ascending. */
  stop(): Promise<number[]>;
}

export async function probeHelp(port: number): Promise<HelpProbe> {
  const child = Bun.spawn([process.execPath, import.meta.path, String(port)], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  const reader = child.stdout.getReader();
  const decoder = new TextDecoder();
  let text = "";
  const readUntil = async (done: (text: string) => boolean) => {
    while (!done(text)) {
      const { value, done: ended } = await reader.read();
      if (ended) throw new Error(`the help probe ended early (exit ${await child.exited}): ${(await new Response(child.stderr).text()).trim()}`);
      text += decoder.decode(value, { stream: true });
    }
  };
  await readUntil((t) => t.includes("ready\n"));
  return {
    async stop() {
      child.stdin.end();
      await readUntil((t) => t.trimEnd().endsWith("]"));
      await child.exited;
      return JSON.parse(text.slice(text.indexOf("ready\n") + 6)) as number[];
    },
  };
}

if (import.meta.main) {
  const port = Number(process.argv[2]);
  let stopped = false;
  void (async () => {
    for await (const _ of Bun.stdin.stream());
    stopped = true;
  })();
  const latencies: number[] = [];
  while (!stopped) {
    const started = performance.now();
    await request("127.0.0.1", port, "help");
    latencies.push(performance.now() - started);
    if (latencies.length === 1) process.stdout.write("ready\n");
    await Bun.sleep(PAUSE_MS);
  }
  process.stdout.write(`${JSON.stringify(latencies.sort((a, b) => a - b))}\n`);
}
