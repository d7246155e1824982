// The http-01 fetcher (src/acme/challenge-fetch.ts) against real sockets
// that answer in crafted ways: framing by Content-Length, chunks and the
// connection's end, answers split across packets, refusals, timeouts and
// answers too large. The ACME tests drive it through real clients' webroots
// (lego, certbot); these pin the edges those never reach.
import { afterEach, describe, expect, test } from "bun:test";
import type { TCPSocketListener } from "bun";
import { fetchChallenge, readAnswer } from "../src/acme/challenge-fetch.ts";

const listeners: TCPSocketListener<unknown>[] = [];
afterEach(() => {
  for (const listener of listeners.splice(0)) listener.stop(true);
});

/** A server that writes `parts` (with a pause between them) once it has the whole request, then closes unless `keepOpen`; returns its port and the requests it saw. */
function server(parts: string[], options: { keepOpen?: boolean; silent?: boolean } = {}): { port: number; requests: string[] } {
  const requests: string[] = [];
  const listener = Bun.listen<{ got: string }>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(socket) {
        socket.data = { got: "" };
      },
      async data(socket, chunk) {
        socket.data.got += Buffer.from(chunk).toString("latin1");
        if (!socket.data.got.includes("\r\n\r\n") || options.silent) return;
        requests.push(socket.data.got);
        for (const part of parts) {
          socket.write(part);
          socket.flush();
          await Bun.sleep(5);
        }
        if (!options.keepOpen) socket.end();
      },
    },
  });
  listeners.push(listener as TCPSocketListener<unknown>);
  return { port: listener.port, requests };
}

const ask = (port: number, timeoutMs = 2000) =>
  fetchChallenge({ address: "127.0.0.1", port, host: "www.example.test:8080", path: "/.well-known/acme-challenge/tok", timeoutMs, maxBodyBytes: 4096 });

describe("fetchChallenge", () => {
  test("sends one GET with the Host header and Connection: close, and reads a Content-Length body split across packets", async () => {
    const { port, requests } = server(["HTTP/1.1 200 OK\r\nContent-Le", "ngth: 8\r\n\r\nkey.", "auth"], { keepOpen: true });
    const answer = await ask(port);
    expect(answer).toEqual({ status: 200, body: "key.auth" });
    expect(requests[0]).toStartWith("GET /.well-known/acme-challenge/tok HTTP/1.1\r\nHost: www.example.test:8080\r\n");
    expect(requests[0]).toContain("Connection: close\r\n");
  });

  test("reads a chunked body (chunk extensions, a chunk split mid-way) without waiting for the close", async () => {
    const { port } = server(["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\nkey.\r\n", "5\r\nau", "th1\r\n0\r\n\r\n"], { keepOpen: true });
    expect(await ask(port)).toEqual({ status: 200, body: "key.auth1" });
  });

  test("reads to the connection's end when neither length nor chunks frame the body", async () => {
    const { port } = server(["HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nkey.", "auth\n"]);
    expect(await ask(port)).toEqual({ status: 200, body: "key.auth\n" });
  });

  test("a status other than 200 is answered as such, its body not read", async () => {
    const { port } = server(["HTTP/1.1 404 Not Found\r\nContent-Length: 100000\r\n\r\nnot here"], { keepOpen: true });
    expect(await ask(port)).toEqual({ status: 404, body: "" });
  });

  test("a body past the limit is refused, whether announced, chunked or close-delimited", async () => {
    const announced = server(["HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n"], { keepOpen: true });
    await expect(ask(announced.port)).rejects.toThrow("answer longer than 4 KiB");
    const chunked = server(["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n", "x".repeat(4096), "\r\n1\r\ny\r\n0\r\n\r\n"], { keepOpen: true });
    await expect(ask(chunked.port)).rejects.toThrow("answer longer than 4 KiB");
    const streamed = server(["HTTP/1.1 200 OK\r\n\r\n", "x".repeat(3000), "x".repeat(3000)], { keepOpen: true });
    await expect(ask(streamed.port)).rejects.toThrow("answer longer than 4 KiB");
  });

  test("a refused connection names the address and port", async () => {
    const { port } = server([]);
    listeners.pop()!.stop(true);
    await expect(ask(port)).rejects.toThrow(`connect ECONNREFUSED 127.0.0.1:${port}`);
  });

  test("a server that never answers times out with how long was waited", async () => {
    const { port } = server([], { silent: true });
    const started = performance.now();
    await expect(ask(port, 300)).rejects.toThrow("no answer within 300 ms");
    expect(performance.now() - started).toBeLessThan(2000);
  });

  test("a server that closes early, or answers something other than HTTP, is a failure with the reason", async () => {
    const early = server(["HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort"]);
    await expect(ask(early.port)).rejects.toThrow("the connection closed before a whole answer");
    const other = server(["SSH-2.0-OpenSSH_9.2\r\n"]);
    await expect(ask(other.port)).rejects.toThrow("the answer is not HTTP");
  });
});

describe("readAnswer", () => {
  const read = (text: string, closed = false) => readAnswer(Buffer.from(text, "latin1"), closed, 4096);

  test("waits for the whole head and body", () => {
    expect(read("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n")).toBeUndefined();
    expect(read("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nab")).toBeUndefined();
    expect(read("HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nabc")).toEqual({ status: 200, body: "abc" });
    expect(read("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")).toBeUndefined();
  });

  test("refuses a bad length, a bad chunk size and headers past 16 KiB", () => {
    expect(() => read("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n")).toThrow("a bad Content-Length '-1'");
    expect(() => read("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")).toThrow("a bad chunk size 'zz'");
    expect(() => read(`HTTP/1.1 200 OK\r\nX: ${"a".repeat(17000)}`)).toThrow("headers longer than 16 KiB");
  });
});
