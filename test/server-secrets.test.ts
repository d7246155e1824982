// The CA key never appears in the log or in a reply, even at debug level and after errors.
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { request, startServer } from "./server-helpers.ts";

test("after generate, sign, crl, help and bad requests at debug level, neither log nor replies hold the CA key", async () => {
  const server = await startServer(["--log-level", "debug", "--allow-revoke"]);
  try {
    await server.ready;
    const caKey = readFileSync(join(server.depotPath, "private", "ca.key"), "utf8");
    const keyBody = caKey.split("\n").filter((line) => line && !line.startsWith("-----"));
    const replies = [
      await request(server.port, "generate /CN=secret-test"),
      await request(server.port, "crl"),
      await request(server.port, "help"),
      await request(server.port, "revoke 00"),
      await request(server.port, "sign\n-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----"),
      await request(server.port, "\u0000\u0001garbage"),
    ];
    expect(replies[0]).toContain("-----BEGIN PRIVATE KEY-----"); // the client's own new key, not the CA's
    await Bun.sleep(300); // let the workers' log lines reach the supervisor
    const log = server.log();
    expect(log).toContain("served generate");
    for (const line of keyBody) {
      expect(log).not.toContain(line);
      for (const reply of replies) expect(reply).not.toContain(line);
    }
    expect(log).not.toContain("PRIVATE KEY");
  } finally {
    await server.kill();
  }
});
