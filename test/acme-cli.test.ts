// `depot acme eab` makes a binding key that a client then uses to create its
// account on a server that requires one, limited to the names it was given.
import { expect, test } from "bun:test";
import { join } from "node:path";
import { TestAcmeClient } from "./acme-clients/client.ts";
import { startLocalAcme } from "./acme-clients/harness.ts";
import { depot, depotOk, tempDir } from "./helpers.ts";

test("depot acme eab prints a key id and HMAC key that bind one account limited to --allow", async () => {
  const path = join(tempDir(), "ca");
  depotOk(["init", path, "--key-type", "ec-p256"]);
  const out = depotOk(["acme", "eab", path, "--name", "team-a", "--allow", "*.a.test", "--allow", "10.0.0.0/8"]);
  const kid = /^key id: +(\S+)$/m.exec(out)![1]!;
  const hmac = /^HMAC key: +(\S+)$/m.exec(out)![1]!;
  expect(out).toContain("for:      team-a, names *.a.test, 10.0.0.0/8");
  expect(out).toContain(`lego:     --eab --kid ${kid} --hmac ${hmac}`);

  const acme = await startLocalAcme({ depotPath: path, requireEab: true });
  try {
    const client = await TestAcmeClient.connect(acme.directory, acme.caPem);
    const bound = await client.register({ termsOfServiceAgreed: true, externalAccountBinding: await client.externalAccountBinding(kid, hmac) });
    expect(bound.status).toBe(201);
    expect((await client.post(client.directory.newOrder, { identifiers: [{ type: "dns", value: "x.a.test" }, { type: "ip", value: "10.1.1.1" }] })).status).toBe(201);
    const outside = await client.post(client.directory.newOrder, { identifiers: [{ type: "dns", value: "x.b.test" }] });
    expect(outside.body.type).toBe("urn:ietf:params:acme:error:rejectedIdentifier");
  } finally {
    await acme.stop();
  }
});

test("depot acme eab refuses a malformed pattern and a missing name with one line", () => {
  const path = join(tempDir(), "ca");
  depotOk(["init", path]);
  const bad = depot(["acme", "eab", path, "--name", "x", "--allow", "bad pattern!"]);
  expect(bad.exitCode).toBe(1);
  expect(bad.stderr).toBe("depot: 'bad pattern!' is neither a DNS glob (like *.example.com) nor an IP CIDR (like 10.0.0.0/8)\n");
  const noName = depot(["acme", "eab", path]);
  expect(noName.exitCode).toBe(1);
  expect(noName.stderr.split("\n").length).toBe(2);
});
