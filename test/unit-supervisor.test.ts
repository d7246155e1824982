// The supervisor's loop driven through its seams: fake children (an injected
// spawn factory) and a fake clock, so crash, back-off, HUP, a hung worker and
// the QUIT deadline run in milliseconds without a real process.
import { expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Child, ChildEvents, ChildRole, SpawnChild } from "../src/server/child.ts";
import { type LogLevel, Logger } from "../src/server/log.ts";
import type { WorkerMessage } from "../src/server/messages.ts";
import { Supervisor, type SupervisorOptions } from "../src/server/supervisor.ts";
import { FakeClock } from "./fakes.ts";
import { tempDir } from "./helpers.ts";

type Behaviour = "obedient" | "hung";

class FakeChild implements Child {
  readonly signals: string[] = [];
  readonly lines: string[] = [];
  exited = false;
  constructor(
    readonly role: ChildRole,
    readonly pid: number,
    readonly env: Record<string, string>,
    private readonly events: ChildEvents,
    public behaviour: Behaviour = "obedient",
  ) {}
  signal(signal: NodeJS.Signals): void {
    this.signals.push(signal);
    if (this.exited) return;
    if (signal === "SIGKILL") this.exit(null, "SIGKILL");
    else if (this.behaviour === "obedient" && (signal === "SIGQUIT" || signal === "SIGTERM")) this.exit(0);
  }
  send(line: string): void {
    this.lines.push(line);
  }
  say(message: WorkerMessage): void {
    setImmediate(() => this.events.message(message));
  }
  exit(code: number | null, signal: string | null = null): void {
    if (this.exited) return;
    this.exited = true;
    setImmediate(() => this.events.exited(code, signal));
  }
}

class MemoryLogger extends Logger {
  readonly lines: string[] = [];
  constructor() {
    super("debug", undefined, false);
  }
  override write(level: LogLevel, message: string): void {
    this.lines.push(`${level}: ${message}`);
  }
}

function harness(overrides: Partial<SupervisorOptions> = {}, behaviour: (role: ChildRole) => Behaviour = () => "obedient") {
  const clock = new FakeClock();
  const log = new MemoryLogger();
  const children: FakeChild[] = [];
  let nextPid = 1000;
  const spawn: SpawnChild = (role, env, events) => {
    const child = new FakeChild(role, nextPid++, env, events, behaviour(role));
    children.push(child);
    return child;
  };
  const pidFile = join(tempDir("depot-unit-supervisor-"), "depot.pid");
  let readyCalls = 0;
  const supervisor = new Supervisor(
    {
      worker: {
        depot: "/nowhere",
        listeners: [{ kind: "line", host: "127.0.0.1", port: 1 }],
        maxConnectionQueue: 10,
        logLevel: "debug",
        gracefulTimeoutMs: 30_000,
        keyPool: 0,
        keyConcurrency: 1,
        allowRevoke: false,
        allowShutdown: false,
        testHooks: false,
      },
      upkeep: { depot: "/nowhere", logLevel: "debug", pollMs: 400 },
      processCount: 2,
      pidFile,
      timeoutMs: 30_000,
      trapSignals: false,
      onReady: () => readyCalls++,
      spawn,
      clock,
      ...overrides,
    },
    log,
  );
  const joined = supervisor.join();
  const live = (role: ChildRole) => children.filter((c) => c.role === role && !c.exited);
  return {
    supervisor,
    clock,
    log,
    children,
    joined,
    pidFile,
    readyCalls: () => readyCalls,
    workers: () => live("worker"),
    upkeep: () => live("upkeep")[0],
    /** Starts the upkeep process and every worker, all ready. */
    async boot(): Promise<void> {
      await clock.advance(0);
      this.upkeep()!.say({ t: "ready" });
      await clock.advance(250);
      for (const w of this.workers()) w.say({ t: "ready" });
      await clock.advance(0);
    },
  };
}

test("no worker before the upkeep process has found the depot servable; then N workers, and ready once", async () => {
  const h = harness();
  await h.clock.advance(1000);
  expect(h.children.map((c) => c.role)).toEqual(["upkeep"]);
  await h.boot();
  expect(h.workers()).toHaveLength(2);
  expect(h.readyCalls()).toBe(1);
  expect(h.log.lines).toContain("info: All 2 workers ready");
  expect(JSON.parse(Bun.file(`${h.pidFile}.json`).size ? await Bun.file(`${h.pidFile}.json`).text() : "{}").workers).toEqual(h.workers().map((w) => w.pid));
  h.supervisor.signal("SIGTERM");
  await h.clock.advance(10);
  expect(await h.joined).toEqual({ status: 0, failure: undefined });
  expect(existsSync(h.pidFile)).toBe(false);
});

test("the upkeep process's reason for refusing the depot stops the server; no worker is spawned", async () => {
  const h = harness();
  await h.clock.advance(0);
  const upkeep = h.upkeep()!;
  upkeep.say({ t: "fatal", message: "/x is not a depot" });
  upkeep.exit(1);
  await h.clock.advance(300);
  expect(await h.joined).toEqual({ status: 1, failure: "/x is not a depot" });
  expect(h.children.filter((c) => c.role === "worker")).toEqual([]);
});

test("a worker that crashes is replaced, and the upkeep process is told to restore its files", async () => {
  const h = harness();
  await h.boot();
  const [victim] = h.workers();
  victim!.exit(null, "SIGKILL");
  await h.clock.advance(250);
  expect(h.workers()).toHaveLength(2);
  expect(h.workers()).not.toContain(victim!);
  expect(h.upkeep()!.lines).toEqual(["restore"]);
  expect(h.log.lines).toContain(`warn: worker ${victim!.pid} died (signal SIGKILL); starting a new one`);
  h.supervisor.signal("SIGTERM");
  await h.clock.advance(10);
  await h.joined;
});

test("workers dying at start-up back off (200, 400, 800, 1600 ms) and the fifth failure stops the server with their reason", async () => {
  const h = harness({ processCount: 1 });
  await h.clock.advance(0);
  h.upkeep()!.say({ t: "ready" });
  const spawnTimes: number[] = [];
  for (let failure = 1; failure <= 5; failure++) {
    // Wait (in virtual time) for the next worker, then make it fail at start.
    let worker = h.workers()[0];
    while (!worker) {
      await h.clock.advance(50);
      worker = h.workers()[0];
    }
    spawnTimes.push(h.clock.now());
    worker.say({ t: "fatal", message: "cannot open the depot" });
    worker.exit(1);
    await h.clock.advance(0);
  }
  const gaps = spawnTimes.slice(1).map((t, i) => t - spawnTimes[i]!);
  // Each gap is the back-off rounded up to the next 50 ms poll of this test: the supervisor wakes when the back-off ends, not at its next 1 s housekeeping.
  gaps.forEach((gap, i) => expect(gap).toBeGreaterThanOrEqual(200 * 2 ** i));
  gaps.forEach((gap, i) => expect(gap).toBeLessThan(200 * 2 ** i + 300));
  await h.clock.advance(3000);
  expect(await h.joined).toEqual({ status: 1, failure: "workers keep failing at start-up: cannot open the depot" });
});

test("HUP: a new generation starts; the old one is stopped only once every new worker is ready", async () => {
  const h = harness();
  await h.boot();
  const old = h.workers();
  h.supervisor.signal("SIGHUP");
  await h.clock.advance(250);
  const fresh = h.workers().filter((w) => !old.includes(w));
  expect(fresh).toHaveLength(2);
  expect(old.every((w) => w.signals.length === 0)).toBe(true);
  fresh[0]!.say({ t: "ready" });
  await h.clock.advance(0);
  expect(old.every((w) => w.signals.length === 0)).toBe(true);
  fresh[1]!.say({ t: "ready" });
  await h.clock.advance(0);
  expect(old.map((w) => w.signals)).toEqual([["SIGQUIT"], ["SIGQUIT"]]);
  expect(h.workers()).toEqual(fresh);
  expect(h.readyCalls()).toBe(1);
  h.supervisor.signal("SIGTERM");
  await h.clock.advance(10);
  await h.joined;
});

test("a worker without a heartbeat for --timeout is killed with SIGKILL and replaced; beating ones are not", async () => {
  const h = harness({ timeoutMs: 5000 });
  await h.boot();
  const [silent, beating] = h.workers();
  for (let t = 0; t < 6000; t += 1000) {
    beating!.say({ t: "beat" });
    h.upkeep()!.say({ t: "beat" });
    await h.clock.advance(1000);
  }
  expect(silent!.signals).toEqual(["SIGKILL"]);
  expect(beating!.signals).toEqual([]);
  await h.clock.advance(250);
  expect(h.workers()).toHaveLength(2);
  expect(h.log.lines).toContain(`error: worker ${silent!.pid} sent no heartbeat for 5 s; killing it (SIGKILL)`);
  h.supervisor.signal("SIGTERM");
  await h.clock.advance(10);
  await h.joined;
});

test("QUIT: workers get QUIT; one that ignores it is killed at the deadline (--timeout + 1 s), and the loop ends", async () => {
  const h = harness({}, (role) => (role === "worker" ? "hung" : "obedient"));
  await h.boot();
  const workers = h.workers();
  h.supervisor.signal("SIGQUIT");
  await h.clock.advance(30_000);
  expect(workers.map((w) => w.signals)).toEqual([["SIGQUIT"], ["SIGQUIT"]]);
  expect(h.supervisor.stopping).toBe(true);
  await h.clock.advance(1250);
  // SIGKILL, maybe repeated until the exit is reaped.
  for (const w of workers) expect(new Set(w.signals)).toEqual(new Set(["SIGQUIT", "SIGKILL"]));
  await h.clock.advance(250);
  expect(await h.joined).toEqual({ status: 0, failure: undefined });
});

test("a turn that throws is logged and the loop goes on (test hook: SIGUSR2)", async () => {
  const h = harness({ testHooks: true });
  await h.boot();
  h.supervisor.signal("SIGUSR2");
  await h.clock.advance(0);
  expect(h.log.lines.some((line) => line.startsWith("error: supervisor: unexpected error, carrying on: Error: test hook: this turn throws"))).toBe(true);
  h.supervisor.signal("SIGTTIN");
  await h.clock.advance(250);
  expect(h.workers()).toHaveLength(3);
  h.supervisor.signal("SIGTERM");
  await h.clock.advance(10);
  expect(await h.joined).toEqual({ status: 0, failure: undefined });
});

test("an upkeep process that dies after start is replaced, and asked to restore files a crash left meanwhile", async () => {
  const h = harness();
  await h.boot();
  const first = h.upkeep()!;
  first.exit(null, "SIGKILL");
  h.workers()[0]!.exit(null, "SIGKILL");
  await h.clock.advance(250);
  const second = h.upkeep()!;
  expect(second).not.toBe(first);
  expect(second.lines).toEqual([]);
  second.say({ t: "ready" });
  await h.clock.advance(0);
  expect(second.lines).toEqual(["restore"]);
  h.supervisor.signal("SIGTERM");
  await h.clock.advance(10);
  await h.joined;
});

test("a worker that asks to retire (a client's shutdown) serves on until its replacement is ready, then gets QUIT", async () => {
  const h = harness();
  await h.boot();
  const [retiring, other] = h.workers();
  retiring!.say({ t: "retire", reason: "asked to stop by a client (shutdown)" });
  await h.clock.advance(250);
  const replacement = h.workers().find((w) => w !== retiring && w !== other)!;
  expect(replacement).toBeDefined();
  expect(retiring!.signals).toEqual([]);
  replacement.say({ t: "ready" });
  await h.clock.advance(0);
  expect(retiring!.signals).toEqual(["SIGQUIT"]);
  expect(other!.signals).toEqual([]);
  expect(h.workers().sort((a, b) => a.pid - b.pid)).toEqual([other!, replacement].sort((a, b) => a.pid - b.pid));
  h.supervisor.signal("SIGTERM");
  await h.clock.advance(10);
  await h.joined;
});

test("the upkeep process's roll (a renewed HTTPS certificate) replaces the workers as HUP does; its audit lines go to onAudit", async () => {
  const audited: string[][] = [];
  const h = harness({ onAudit: (lines) => audited.push(lines) });
  await h.boot();
  const old = h.workers();
  h.upkeep()!.say({ t: "audit", lines: ['{"seq":1}', '{"seq":2}'] });
  h.upkeep()!.say({ t: "roll", reason: "renewed the HTTPS certificate" });
  await h.clock.advance(250);
  expect(audited).toEqual([['{"seq":1}', '{"seq":2}']]);
  const fresh = h.workers().filter((w) => !old.includes(w));
  expect(fresh).toHaveLength(2);
  for (const w of fresh) w.say({ t: "ready" });
  await h.clock.advance(0);
  expect(old.map((w) => w.signals)).toEqual([["SIGQUIT"], ["SIGQUIT"]]);
  expect(h.log.lines.some((line) => line.includes("renewed the HTTPS certificate: starting 2 new workers"))).toBe(true);
  h.supervisor.signal("SIGTERM");
  await h.clock.advance(10);
  await h.joined;
});

test("with workerCpus each worker is pinned once ready, where the fewest are; a replacement takes its dead worker's CPU", async () => {
  const pins: [number, number[]][] = [];
  const h = harness({ processCount: 3, workerCpus: { cpus: [2, 5], pin: (tid, cpus) => (pins.push([tid, [...cpus]]), true), threads: () => [] } });
  await h.boot();
  const [first, second, third] = h.workers();
  expect(pins).toEqual([
    [first!.pid, [2]],
    [second!.pid, [5]],
    [third!.pid, [2]],
  ]);
  second!.exit(null, "SIGKILL");
  await h.clock.advance(250);
  const replacement = h.workers().find((w) => ![first, third].includes(w))!;
  // Not before it is ready: a runtime started on one CPU sizes itself for one.
  expect(pins).toHaveLength(3);
  replacement.say({ t: "ready" });
  await h.clock.advance(0);
  expect(pins.at(-1)).toEqual([replacement.pid, [5]]);
  expect(h.log.lines).toContain(`debug: worker ${replacement.pid} runs on CPU 5`);
  h.supervisor.signal("SIGTERM");
  await h.clock.advance(10);
  await h.joined;
});

test("a pinned worker's thread-pool threads may run on every CPU, those its pool starts later too (found within a second); its other threads stay on its CPU", async () => {
  const pins: [number, number[]][] = [];
  const threads = new Map<number, { tid: number; pool: boolean; cpuMs: number }[]>();
  const h = harness({ processCount: 1, workerCpus: { cpus: [0, 1], pin: (tid, cpus) => (pins.push([tid, [...cpus]]), true), threads: (pid) => threads.get(pid) ?? [] } });
  await h.boot();
  const worker = h.workers()[0]!;
  const pid = worker.pid;
  expect(pins).toEqual([[pid, [0]]]);
  // A pool thread, and one not yet named (it bears its creator's name).
  threads.set(pid, [{ tid: pid + 1, pool: true, cpuMs: 0 }, { tid: pid + 2, pool: false, cpuMs: 0 }]);
  await h.clock.advance(1000);
  await h.clock.advance(1000);
  expect(pins.slice(1)).toEqual([
    [pid + 1, [0, 1]],
    [pid + 2, [0]],
  ]);
  // It names itself a pool thread, and the pool grows: each is placed once more, no other.
  threads.set(pid, [{ tid: pid + 1, pool: true, cpuMs: 0 }, { tid: pid + 2, pool: true, cpuMs: 0 }, { tid: pid + 3, pool: true, cpuMs: 0 }]);
  await h.clock.advance(1000);
  await h.clock.advance(1000);
  expect(pins.slice(3)).toEqual([
    [pid + 2, [0, 1]],
    [pid + 3, [0, 1]],
  ]);
  await h.clock.advance(1000);
  await h.clock.advance(1000);
  expect(pins).toHaveLength(5);
  h.supervisor.signal("SIGTERM");
  await h.clock.advance(10);
  await h.joined;
});

test("a pinned worker whose thread pool is busy runs free, every thread of it, until the pool has been quiet a minute", async () => {
  const pins: [number, number[]][] = [];
  let poolMs = 0;
  const h = harness({ processCount: 1, workerCpus: { cpus: [0, 1], pin: (tid, cpus) => (pins.push([tid, [...cpus]]), true), threads: (pid) => [{ tid: pid + 1, pool: true, cpuMs: poolMs }, { tid: pid + 2, pool: false, cpuMs: 5 }] } });
  await h.boot();
  const pid = h.workers()[0]!.pid;
  await h.clock.advance(1000);
  await h.clock.advance(1000);
  expect(pins).toEqual([
    [pid, [0]],
    [pid + 1, [0, 1]],
    [pid + 2, [0]],
  ]);
  // The pool makes keys: 900 ms of CPU a second.
  for (let second = 0; second < 3; second++) {
    poolMs += 900;
    await h.clock.advance(1000);
  }
  expect(pins.slice(3)).toEqual([
    [pid, [0, 1]],
    [pid + 2, [0, 1]],
  ]);
  expect(h.log.lines).toContain(`debug: worker ${pid} runs on every CPU while its thread pool is busy`);
  // Quiet (a little work, below half a CPU): pinned again on the sixtieth quiet sweep.
  poolMs += 100;
  let seconds = 0;
  while (pins.length === 5 && seconds < 200) {
    // It beats, or the supervisor would kill it after --timeout (30 s).
    h.workers()[0]!.say({ t: "beat" });
    await h.clock.advance(1000);
    seconds++;
  }
  expect(seconds).toBeGreaterThanOrEqual(59);
  expect(seconds).toBeLessThanOrEqual(61);
  expect(pins.slice(5)).toEqual([
    [pid, [0]],
    [pid + 2, [0]],
  ]);
  expect(h.log.lines).toContain(`debug: worker ${pid} runs on CPU 0 again`);
  h.supervisor.signal("SIGTERM");
  await h.clock.advance(10);
  await h.joined;
});

test("a pin the system refuses leaves that worker unplaced and the server serving", async () => {
  const tried: number[][] = [];
  const h = harness({ processCount: 2, workerCpus: { cpus: [0, 1], pin: (_tid, cpus) => (tried.push([...cpus]), false), threads: () => [] } });
  await h.boot();
  expect(h.workers()).toHaveLength(2);
  // Refused, the first does not count on CPU 0: the second is offered CPU 0 too.
  expect(tried).toEqual([[0], [0]]);
  expect(h.log.lines).toContain(`debug: worker ${h.workers()[0]!.pid}: the system would not pin it to a CPU`);
  expect(h.readyCalls()).toBe(1);
  h.supervisor.signal("SIGTERM");
  await h.clock.advance(10);
  await h.joined;
});
