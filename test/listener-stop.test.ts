/**
 * Both Bun.serve listeners, plain HTTP (`--http-port`) and HTTPS
 * (`--https-port`), stop the same way (src/server/listeners/serve-stop.ts,
 * docs/architecture.md "Stopping"), checked on one real server with the
 * same raw connections to each: after QUIT, for the grace period, a request
 * on a keep-alive connection is still answered, with `Connection: close`;
 * then idle keep-alive connections are closed and the port refuses new
 * ones, while a request whose body is still arriving stays open and, once
 * its body is in, is answered in full (with `Connection: close`); then the
 * server exits 0.
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Socket } from "bun";
import { depotOk } from "./helpers.ts";
import { runAsync } from "./ocsp-helpers.ts";
import { freePort, startServer, waitFor } from "./server-helpers.ts";

type Kind = "http" | "https";

/** A raw client connection: what it received, and whether the server closed it. */
interface Raw {
  received: string;
  closed: boolean;
  socket: Socket<undefined>;
}

/** Connects (for HTTPS, through the TLS handshake: what is written before it may be lost). */
async function connect(kind: Kind, port: number): Promise<Raw> {
  const raw = { received: "", closed: false } as Raw;
  let shookHands: () => void = () => {};
  const handshake = new Promise<void>((resolve) => (shookHands = resolve));
  raw.socket = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    ...(kind === "https" ? { tls: { rejectUnauthorized: false, serverName: "localhost" } } : {}),
    socket: {
      handshake() {
        shookHands();
      },
      data(_socket, data) {
        raw.received += data.toString("latin1");
      },
      close() {
        raw.closed = true;
      },
    },
  });
  if (kind === "https") await handshake;
  return raw;
}

/** Writes all of `data`, or fails (a test must not wait for an answer to bytes never sent). */
function send(raw: Raw, data: string | Uint8Array): void {
  const bytes = typeof data === "string" ? Buffer.from(data) : data;
  expect(raw.socket.write(bytes)).toBe(bytes.length);
}

/** Whether a new TCP connection to the port is refused. */
async function refused(port: number): Promise<boolean> {
  try {
    const socket = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
    socket.end();
    return false;
  } catch {
    return true;
  }
}

const answers = (raw: Raw) => raw.received.match(/^HTTP\/1\.1 \d{3}/gm) ?? [];

test("QUIT drains the HTTP and the HTTPS listener alike: grace answers with Connection: close, idle connections closed, the request in flight answered", async () => {
  const httpPort = freePort();
  const httpsPort = freePort();
  const server = await startServer(["--http-port", String(httpPort), "--https-port", String(httpsPort), "--process-count", "1"]);
  try {
    await server.ready;
    const token = depotOk(["token", "create", server.depotPath, "--name", "drain"]).trim();
    const reqFile = join(server.home, "req.der");
    await runAsync(["openssl", "ocsp", "-issuer", join(server.depotPath, "certificates", "ca.crt"), "-serial", "0x01", "-no_nonce", "-reqout", reqFile]);
    const ocspBody = readFileSync(reqFile);
    const apiBody = Buffer.from(JSON.stringify({ type: "client", cn: "drained", keyType: "ec-p256" }));

    /** Per kind: a cheap keep-alive request, and the head of a POST whose body follows. */
    const kinds = {
      http: {
        port: httpPort,
        get: "GET /health HTTP/1.1\r\nHost: x\r\n\r\n",
        post: `POST /ocsp HTTP/1.1\r\nHost: x\r\nContent-Type: application/ocsp-request\r\nContent-Length: ${ocspBody.length}\r\n\r\n`,
        body: ocspBody,
        status: "HTTP/1.1 200",
      },
      https: {
        port: httpsPort,
        get: `GET /v1/certificates?limit=1 HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\n\r\n`,
        post: `POST /v1/certificates HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${apiBody.length}\r\n\r\n`,
        body: apiBody,
        status: "HTTP/1.1 201",
      },
    };
    const clients = await Promise.all(
      (["http", "https"] as const).map(async (kind) => {
        const spec = kinds[kind];
        const idle = await connect(kind, spec.port);
        const grace = await connect(kind, spec.port);
        const inFlight = await connect(kind, spec.port);
        // Two keep-alive connections answered once, now idle.
        send(idle, spec.get);
        send(grace, spec.get);
        await waitFor(() => answers(idle).length === 1 && answers(grace).length === 1, 10_000, () => `${kind}: no first answers: ${JSON.stringify([idle.received, grace.received])}`);
        expect(`${kind} ${idle.received.toLowerCase().includes("connection: close")}`).toBe(`${kind} false`);
        // The worker holds a request waiting for the rest of its body.
        send(inFlight, spec.post);
        send(inFlight, spec.body.subarray(0, 10));
        return { kind, spec, idle, grace, inFlight };
      }),
    );
    await Bun.sleep(200);

    server.process.kill("SIGQUIT");
    await waitFor(() => server.log().includes("worker stopping"), 5_000, () => `the worker did not stop; log:\n${server.log()}`);
    // The grace period: still answering on open connections, each answer saying Connection: close.
    for (const { grace, spec } of clients) send(grace, spec.get);
    for (const { kind, grace, idle } of clients) {
      await waitFor(() => answers(grace).length === 2, 5_000, `${kind}: no answer in the grace period`);
      const second = grace.received.slice(grace.received.lastIndexOf("HTTP/1.1 ")).toLowerCase();
      expect(`${kind}: ${second.includes("connection: close")}`).toBe(`${kind}: true`);
      expect(`${kind}: idle closed ${idle.closed}`).toBe(`${kind}: idle closed false`);
    }

    // Then: idle connections closed, the port closed, the request in flight still open.
    for (const { kind, idle, grace, inFlight, spec } of clients) {
      await waitFor(() => idle.closed && grace.closed, 5_000, `${kind}: the idle keep-alive connections stayed open after QUIT`);
      expect(`${kind}: refused ${await refused(spec.port)}`).toBe(`${kind}: refused true`);
      expect(`${kind}: in flight closed ${inFlight.closed}`).toBe(`${kind}: in flight closed false`);
    }
    // Its body arrives: answered in full, with Connection: close.
    for (const { inFlight, spec } of clients) send(inFlight, spec.body.subarray(10));
    for (const { kind, inFlight, spec } of clients) {
      await waitFor(() => inFlight.closed, 15_000, () => `${kind}: the connection in flight was not closed; got ${JSON.stringify(inFlight.received)}`);
      expect(`${kind}: ${inFlight.received.slice(0, spec.status.length)}`).toBe(`${kind}: ${spec.status}`);
      expect(`${kind}: ${inFlight.received.toLowerCase().includes("connection: close")}`).toBe(`${kind}: true`);
      const length = Number(/content-length: (\d+)/i.exec(inFlight.received)?.[1]);
      expect(`${kind}: ${inFlight.received.length - inFlight.received.indexOf("\r\n\r\n") - 4}`).toBe(`${kind}: ${length}`);
    }
    expect(await server.process.exited).toBe(0);
  } finally {
    await server.kill();
  }
}, 60_000);
