/**
 * @module
 * A real nginx for the interoperability tests. A test gives what it varies,
 * the certificate nginx presents and the directives that check clients (as
 * `depot config` prints them, or written by hand); this module writes the
 * rest of the configuration into a temp prefix, runs nginx as its own process
 * on a free loopback port, waits until it accepts connections (or fails with
 * its error log), and stops it. Every server answers `hello <client subject>`.
 */
import type { Subprocess } from "bun";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { drain, tempDir } from "./helpers.ts";
import { freePort, waitFor } from "./server-helpers.ts";
import { ensureTool } from "./tools.ts";

export interface NginxOptions {
  /** PEM file with the certificate nginx presents (and its chain after it). */
  certificate: string;
  /** PEM file with the certificate's private key; the certificate file itself when omitted (one file holding both). */
  key?: string;
  /** Directives for the server block, one or more lines: ssl_client_certificate, ssl_verify_client, ssl_verify_depth, ssl_crl, ssl_ocsp, resolver, ... */
  directives?: string;
  /**
   * A master process and one worker, so `nginx -s reload` reloads as in
   * production (the default single process's reload is unreliable: after a
   * SIGHUP it answered TLS clients with plain bytes). Stopped with SIGTERM.
   */
  masterProcess?: boolean;
}

export interface RunningNginx {
  /** The loopback port nginx listens on, with TLS. */
  port: number;
  process: Subprocess;
  errorLogFile: string;
  /** The error log so far (at level info, where nginx says why it refused a client certificate). */
  errorLog(): string;
  /** Kills nginx and waits for it; safe to call again (from a finally and an afterAll). */
  stop(): Promise<void>;
}

const STARTUP_TIMEOUT_MS = 15_000;
/** Another process may take the free port before nginx binds it; then nginx starts again on a new one. */
const START_ATTEMPTS = 3;

/** Installs nginx from Debian where missing; call it in a beforeAll when the test itself starts nginx, so the install does not count against the test's timeout. */
export function ensureNginx(): void {
  ensureTool("nginx", "nginx");
  ensureTool("setpriv", "util-linux");
}

/** Starts nginx with TLS on a free loopback port, resolving once it accepts connections. */
export async function startNginx(options: NginxOptions): Promise<RunningNginx> {
  ensureNginx();
  for (let attempt = 1; ; attempt++) {
    const started = await startOnce(options);
    if (started.ok) return started.nginx;
    if (!(started.portTaken && attempt < START_ATTEMPTS)) throw new Error(started.reason);
  }
}

type StartAttempt = { ok: true; nginx: RunningNginx } | { ok: false; portTaken: boolean; reason: string };

async function startOnce(options: NginxOptions): Promise<StartAttempt> {
  const prefix = tempDir("depot-nginx-");
  const port = freePort();
  const errorLogFile = join(prefix, "error.log");
  const conf = join(prefix, "nginx.conf");
  writeFileSync(conf, nginxConf({ prefix, port, errorLogFile, ...options }));
  // setpriv --pdeathsig: the kernel kills nginx when the test process dies,
  // so a test that times out or crashes before its stop() leaves no nginx
  // behind (bun test fires no process "exit" event to clean up in).
  // -e: errors from before the configuration is read go to our log too, not to /var/log/nginx.
  const proc = Bun.spawn(["setpriv", "--pdeathsig", "KILL", "--", "nginx", "-p", prefix, "-c", conf, "-e", errorLogFile], { stdin: "ignore", stdout: "ignore", stderr: "pipe" });
  const stderr = { text: "" };
  const stderrDone = drain(proc.stderr, stderr);
  const errorLog = () => (existsSync(errorLogFile) ? readFileSync(errorLogFile, "utf8") : "");
  const stop = async () => {
    if (options.masterProcess && proc.exitCode === null) {
      // SIGTERM: the master stops its worker first (a SIGKILLed master would leave it holding the port).
      proc.kill("SIGTERM");
      const killer = setTimeout(() => proc.kill("SIGKILL"), 5_000);
      await proc.exited;
      clearTimeout(killer);
      return;
    }
    // Nothing of its state matters after a test, and SIGKILL cannot be held up by open connections.
    proc.kill("SIGKILL");
    await proc.exited;
  };
  const exitedOrAccepting = async () => proc.exitCode !== null || (await accepts(port));
  let timedOut: string | undefined;
  try {
    await waitFor(exitedOrAccepting, STARTUP_TIMEOUT_MS, `nginx to accept connections on 127.0.0.1:${port}`);
  } catch (error) {
    timedOut = (error as Error).message;
  }
  if (timedOut !== undefined || proc.exitCode !== null) {
    const exitCode = proc.exitCode;
    await stop();
    await stderrDone;
    const said = `${errorLog()}${stderr.text}`;
    const reason = timedOut ?? `nginx exited with ${exitCode} before it accepted connections on 127.0.0.1:${port}`;
    return { ok: false, portTaken: timedOut === undefined && said.includes("Address already in use"), reason: `${reason}; its error log and stderr:\n${said}` };
  }
  return { ok: true, nginx: { port, process: proc, errorLogFile, errorLog, stop } };
}

function nginxConf(parts: NginxOptions & { prefix: string; port: number; errorLogFile: string }): string {
  const directives = (parts.directives ?? "").replace(/^/gm, "    ");
  const processes = parts.masterProcess
    ? "master_process on;\nworker_processes 1;\n"
    : "# One process, no workers: killing it stops all of nginx.\nmaster_process off;\n";
  return `daemon off;
${processes}pid ${parts.prefix}/nginx.pid;
error_log ${parts.errorLogFile} info;
events {}
http {
  access_log off;
  # In the prefix: the compiled-in temp paths (/var/lib/nginx) need not exist or be ours.
  client_body_temp_path ${parts.prefix}/body;
  proxy_temp_path ${parts.prefix}/proxy;
  fastcgi_temp_path ${parts.prefix}/fastcgi;
  uwsgi_temp_path ${parts.prefix}/uwsgi;
  scgi_temp_path ${parts.prefix}/scgi;
  server {
    listen 127.0.0.1:${parts.port} ssl;
    ssl_certificate ${parts.certificate};
    ssl_certificate_key ${parts.key ?? parts.certificate};
${directives}
    # The page names the client certificate nginx saw; as text, so a browser shows it instead of saving it.
    default_type text/plain;
    location / { return 200 "hello $ssl_client_s_dn\\n"; }
  }
}
`;
}

/** Whether a TCP connection to the loopback port succeeds. */
async function accepts(port: number): Promise<boolean> {
  try {
    const socket = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
    socket.end();
    return true;
  } catch {
    return false;
  }
}
