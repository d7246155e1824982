import { startServer } from "./server-helpers.ts";
import { writeFileSync } from "node:fs";
writeFileSync("/proc/sys/net/ipv4/tcp_migrate_req", "1");
function exchange(port: number, line: string): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let settled = false;
    const settle = (t: string) => { if (!settled) { settled = true; clearTimeout(timer); resolve(t); } };
    const timer = setTimeout(() => settle("timeout"), 5000);
    Bun.connect({ hostname: "127.0.0.1", port, socket: {
      open(s) { s.write(line + "\n"); },
      data(_s, d) { chunks.push(Buffer.from(d)); },
      close() { settle("ok:" + Buffer.concat(chunks).toString()); },
      error(_s, e: any) { settle(`error ${e.code ?? e.message} after ${Buffer.concat(chunks).length}B`); },
      connectError(_s, e: any) { settle(`connect error ${e.code ?? e.message}`); },
    }}).catch((e: any) => settle(`connect error ${e.code ?? e.message}`));
  });
}
const server = await startServer(["--process-count", "2"]);
(async () => { for await (const _ of server.process.stderr) {} })();
(async () => { for await (const _ of server.process.stdout) {} })();
await server.ready;
const expected = await exchange(server.port, "help");
let running = true, ok = 0; const kinds = new Map<string, number>();
const loops = Array.from({ length: Number(process.env.C ?? 4) }, async () => {
  while (running) {
    const o = await exchange(server.port, "help");
    if (o === expected) ok++; else kinds.set(o, (kinds.get(o) ?? 0) + 1);
  }
});
let hups = 0;
const until = performance.now() + Number(process.env.SECS ?? 60) * 1000;
while (performance.now() < until) {
  process.kill(server.process.pid, "SIGHUP"); hups++;
  await Bun.sleep(Number(process.env.GAP ?? 400));
}
running = false; await Promise.all(loops);
console.log(`${hups} HUPs, ${ok} ok, failures: ${JSON.stringify(Object.fromEntries(kinds))}`);
await server.kill();
process.exit(0);
