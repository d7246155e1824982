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
 * So a bench waits, before making its folder, until the last bench cleanup
 * in the same TMPDIR is six minutes old (only on a journal-less ext4, where
 * this applies; `DEPOT_BENCH_NO_WAIT=1` skips the wait). A bench that runs
 * others (bench/run.ts) hands them `childEnvironment`: their folders go
 * inside its own and are removed with it, once, at its exit.
 */
import { chmodSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** How long ext4 without a journal may skip a freed inode: RECENTCY_MIN + RECENTCY_DIRTY. */
const SKIPPED_FOR_MS = 360_000;
/** When a bench last removed its folder from this TMPDIR (milliseconds since the epoch). */
const STAMP = ".depot-bench-removed";
/** Fewer freed inodes than this cost a new file too little to wait for (a scan of a thousand takes about 0.1 ms). */
const FEW_FILES = 1000;
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

/** Removes a bench folder and, when it held enough files to matter, notes when, for the next run's wait. */
export function removeBenchFolder(folder: string): void {
  let files = 0;
  try {
    files = readdirSync(folder, { recursive: true }).length;
  } catch {
    // Already gone.
  }
  rmSync(folder, { recursive: true, force: true });
  if (files < FEW_FILES) return;
  try {
    writeFileSync(join(tmpdir(), STAMP), String(Date.now()));
  } catch {
    // Without the note the next run does not wait: slower, not wrong.
  }
}

async function waitForFreedInodes(): Promise<void> {
  if (process.env.DEPOT_BENCH_NO_WAIT === "1" || !skipsFreedInodes(tmpdir())) return;
  let removedAt: number;
  try {
    removedAt = Number(readFileSync(join(tmpdir(), STAMP), "utf8"));
  } catch {
    return; // No bench has removed anything here.
  }
  const waitMs = removedAt + SKIPPED_FOR_MS - Date.now();
  if (!(waitMs > 0)) return;
  console.error(
    `waiting ${Math.ceil(waitMs / 1000)} s: a bench removed its depot from ${tmpdir()} at ${new Date(removedAt).toISOString()}, and ext4 without a journal ` +
      "makes every new file scan past inodes freed in the last 6 minutes (see bench/_work-folder.ts; DEPOT_BENCH_NO_WAIT=1 skips this)",
  );
  await Bun.sleep(waitMs);
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
