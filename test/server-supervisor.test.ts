// The supervisor as a real process: a turn that throws does not stop it; its
// upkeep process is restarted when it dies; USR1 reopens the log after logrotate.
import { expect, test } from "bun:test";
import { existsSync, readFileSync, renameSync } from "node:fs";
import { request, startServer, upkeepPid, waitFor, workerPids } from "./server-helpers.ts";

test("a supervisor turn that throws (test hook: USR2) is logged; the server keeps serving and stops cleanly", async () => {
  const server = await startServer([], { env: { DEPOT_TEST_HOOKS: "1" } });
  try {
    await server.ready;
    process.kill(server.process.pid, "SIGUSR2");
    await waitFor(() => server.log().includes("supervisor: unexpected error, carrying on: Error: test hook: this turn throws"), 5000, server.log);
    expect(await request(server.port, "help")).toStartWith("crl generate help");
    // The loop still takes signals: one worker more, then a graceful stop.
    process.kill(server.process.pid, "SIGTTIN");
    await waitFor(() => workerPids(server.process.pid).length === 3, 5000, server.log);
    process.kill(server.process.pid, "SIGQUIT");
    expect(await server.process.exited).toBe(0);
    expect(existsSync(server.pidFile)).toBe(false);
  } finally {
    await server.kill();
  }
});

test("the upkeep process is a child of the supervisor; killed, it is replaced and the server serves on", async () => {
  const server = await startServer();
  try {
    await server.ready;
    const first = upkeepPid(server.process.pid);
    expect(first).toBeNumber();
    process.kill(first!, "SIGKILL");
    await waitFor(() => server.log().includes(`upkeep process ${first} died (signal SIGKILL); starting a new one`), 5000, server.log);
    await waitFor(() => (upkeepPid(server.process.pid) ?? first) !== first, 5000, server.log);
    expect(await request(server.port, "help")).toStartWith("crl generate help");
  } finally {
    await server.kill();
  }
});

test("USR1 reopens the log: after the file is moved away, new lines go to a new file and none are lost", async () => {
  const server = await startServer(["--log-level", "debug"]);
  try {
    await server.ready;
    const rotated = `${server.logFile}.1`;
    renameSync(server.logFile, rotated);
    // Written between the move and USR1: goes to the moved file (the open descriptor).
    expect(await request(server.port, "help")).toStartWith("crl");
    await waitFor(() => readFileSync(rotated, "utf8").includes("served help"), 5000, () => readFileSync(rotated, "utf8"));
    process.kill(server.process.pid, "SIGUSR1");
    await waitFor(() => existsSync(server.logFile) && server.log().includes("USR1: reopened the log"), 5000, () => readFileSync(rotated, "utf8"));
    expect(await request(server.port, "help")).toStartWith("crl");
    await waitFor(() => server.log().includes("served help"), 5000, server.log);
    expect(readFileSync(rotated, "utf8")).not.toContain("USR1: reopened the log");
  } finally {
    await server.kill();
  }
});
