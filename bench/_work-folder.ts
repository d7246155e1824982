/**
 * @module
 * Where a bench puts its depots, and how it removes them without slowing
 * the next run down.
 *
 * ext4 without a journal (this machine's root file system) will not reuse
 * an inode freed in the last 60 s, or the last 360 s while its inode-table
 * block is still unwritten (`recently_deleted` in fs/ext4/ialloc.c). Every
 * file created in that block group scans past each such inode first, and a
 * depot creates a file per certificate. A bench that removes its depot at
 * exit thus slows the next bench's depot for up to six minutes: the first
 * round of `bench/footprint.ts` cost 1,220 µs of worker CPU per answer (773
 * of them in the kernel) right after an earlier run's cleanup, and 552 µs
 * (123 in the kernel) in a folder where nothing had been deleted.
 *
 * So a bench waits, before making its folder, while creating a file in its
 * TMPDIR costs more than usual (a probe of 32 files) and something removed
 * an entry of TMPDIR in the last six minutes (the folder's modification
 * time, whoever did it). A note of the benches' own cleanups was not
 * enough: on a fresh machine `npm test` removes hundreds of test folders
 * from /tmp at its end, and a bench run right after it paid for them. On
 * 2026-12-04, `bench/cfssl.ts` right after a test run measured depot at
 * 0.82 and 0.85 × cfssl (then 1.10 as the window passed), and 1.06-1.18 ×
 * in a quiet folder; cfssl writes no files and was not slowed. The wait
 * applies only on a journal-less ext4 and lasts at most seven minutes;
 * `DEPOT_BENCH_NO_WAIT=1` skips it. A bench
 * that runs others (bench/run.ts) hands them `childEnvironment`: their
 * folders go inside its own and are removed with it, once, at its exit.
 */
import { chmodSync, closeSync, mkdtempSync, openSync, readFileSync, realpathSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** How long ext4 without a journal may skip a freed inode: RECENTCY_MIN + RECENTCY_DIRTY. */
const SKIPPED_FOR_MS = 360_000;
/** A TMPDIR that never stays still this long is used as it is, with a warning. */
const WAIT_AT_MOST_MS = 420_000;
/**
 * Kernel CPU to create an empty file, above which a folder counts as slowed:
 * 14-31 µs in a quiet folder on this machine, 52-125 µs in /tmp right after a
 * test run's cleanup, up to 1 ms after a large one.
 */
const SLOW_CREATE_US = 40;
/** Set for a bench's children: their folders are inside the parent's, which removes them. */
const OWNED_BY_PARENT = "DEPOT_BENCH_PARENT_REMOVES";

/** A fresh folder for this run's depots, removed at exit unless a parent bench does it. */
export async function benchWorkFolder(prefix: string): Promise<string> {
  const owned = process.env[OWNED_BY_PARENT] === "1";
  if (!owned) await waitForFreedInodes();
  const folder = mkdtempSync(join(tmpdir(), prefix));
  if (!owned) process.on("exit", () => removeBenchFolder(folder));
  return folder;
}

/** The environment for a bench started by this one: it works inside `folder`, and leaves the removal to us. */
export function childEnvironment(folder: string): Record<string, string | undefined> {
  // Passable by other users (not listable): bench/postgres.ts runs its cluster as `postgres` in a folder of its own in here.
  chmodSync(folder, 0o711);
  return { ...process.env, TMPDIR: folder, [OWNED_BY_PARENT]: "1" };
}

/** Removes a bench folder (its removal is what the next run's wait sees, in the folder's modification time). */
export function removeBenchFolder(folder: string): void {
  rmSync(folder, { recursive: true, force: true });
}

/** Milliseconds since an entry of `folder` was last removed or added. */
function stillFor(folder: string): number {
  return Date.now() - statSync(folder).mtimeMs;
}

/**
 * Kernel CPU per file to create 32 empty files in a new folder inside
 * `folder`, removed again (32 freed inodes cost the next file nothing to
 * speak of): how much a depot's certificate files would pay here now.
 */
function createCostUs(folder: string): number {
  const probe = mkdtempSync(join(folder, ".depot-bench-probe-"));
  try {
    const before = process.cpuUsage();
    for (let i = 0; i < 32; i++) closeSync(openSync(join(probe, String(i)), "wx"));
    return process.cpuUsage(before).system / 32;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

async function waitForFreedInodes(): Promise<void> {
  const folder = tmpdir();
  if (process.env.DEPOT_BENCH_NO_WAIT === "1" || !skipsFreedInodes(folder)) return;
  const waitMs = SKIPPED_FOR_MS - stillFor(folder);
  if (!(waitMs > 0)) return;
  // A recent change need not be a removal (a folder made or a log written): wait only if files cost more now.
  const cost = createCostUs(folder);
  if (cost < SLOW_CREATE_US) return;
  console.error(
    `creating a file in ${folder} costs ${cost.toFixed(0)} µs of kernel CPU now; waiting up to ${Math.ceil(waitMs / 1000)} s: something removed or added an entry of ${folder} at ${new Date(Date.now() - stillFor(folder)).toISOString()} ` +
      "(a test run's or a bench's cleanup?), and ext4 without a journal makes every new file scan past inodes freed in the last 6 minutes " +
      "(see bench/_work-folder.ts; DEPOT_BENCH_NO_WAIT=1 skips this, or give TMPDIR a folder of its own)",
  );
  const deadline = Date.now() + WAIT_AT_MOST_MS;
  while (stillFor(folder) < SKIPPED_FOR_MS) {
    if (Date.now() >= deadline) {
      console.error(`${folder} never stayed still for 6 minutes; going on: depot's file creation may be slowed in this run`);
      return;
    }
    await Bun.sleep(Math.min(5_000, SKIPPED_FOR_MS - stillFor(folder) + 100));
  }
}

/** Whether `path` is on an ext4 file system without a journal: the kind that skips recently freed inodes. */
function skipsFreedInodes(path: string): boolean {
  try {
    const real = realpathSync(path);
    // mountinfo: "... MOUNT_POINT OPTIONS ... - FSTYPE SOURCE SUPER_OPTIONS"; the longest mount point containing `path` holds it.
    let best: { mountPoint: string; type: string; source: string } | undefined;
    for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
      const [before, after] = line.split(" - ");
      if (!before || !after) continue;
      const mountPoint = before.split(" ")[4]!;
      const [type, source] = after.split(" ");
      const contains = real === mountPoint || real.startsWith(mountPoint === "/" ? "/" : `${mountPoint}/`);
      if (contains && (!best || mountPoint.length >= best.mountPoint.length)) best = { mountPoint, type: type!, source: source! };
    }
    if (best?.type !== "ext4") return false;
    const device = best.source.split("/").pop()!;
    return readFileSync(`/sys/fs/ext4/${device}/journal_task`, "utf8").trim() === "<none>";
  } catch {
    return false;
  }
}
