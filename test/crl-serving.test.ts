/**
 * The `crl` command over the socket answers only a CRL this depot signed:
 * never the file a planted symbolic link points at (the CA key, here), never
 * garbage, and its errors name no absolute path. A real server, real socket.
 */
import { expect, test } from "bun:test";
import { readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { request, startServer } from "./server-helpers.ts";

test("crl over the socket: the signed CRL; a symlink to the CA key or garbage in its place is refused, without paths", async () => {
  const server = await startServer(["--process-count", "1"]);
  try {
    await server.ready;
    const crlFile = join(server.depotPath, "crl.pem");
    const signed = readFileSync(crlFile, "utf8");
    expect(await request(server.port, "crl")).toBe(signed);

    rmSync(crlFile);
    symlinkSync(join(server.depotPath, "private", "ca.key"), crlFile);
    const linked = await request(server.port, "crl");
    expect(linked).toBe("ERROR cannot read the depot's crl.pem: it is a symbolic link\n");
    expect(linked).not.toContain("PRIVATE KEY");

    rmSync(crlFile);
    writeFileSync(crlFile, "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n");
    expect(await request(server.port, "crl")).toBe("ERROR the depot's crl.pem is not a CRL signed by this CA; publish a new one with depot crl\n");

    writeFileSync(crlFile, signed);
    expect(await request(server.port, "crl")).toBe(signed);
    expect(server.log()).not.toContain(server.depotPath + "/crl.pem");
  } finally {
    await server.kill();
  }
}, 60_000);
