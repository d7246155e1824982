// answer(): every command and every error of the line protocol, without a
// socket, against fake services that record what they were asked.
import { expect, test } from "bun:test";
import { DepotError } from "../src/errors.ts";
import { answer, type Answer, withoutPaths } from "../src/line/protocol.ts";
import type { LineServices as Services } from "../src/line/services.ts";

function fakeServices(overrides: Partial<Services> = {}) {
  const calls: unknown[][] = [];
  const services: Services = {
    generate: async (subject) => {
      calls.push(["generate", subject.map((a) => `${a.name}=${a.value}`).join(",")]);
      return "KEY+CERT\n";
    },
    sign: async (csr, template) => {
      calls.push(template === undefined ? ["sign", csr] : ["sign", csr, template]);
      return "CERT\n";
    },
    crl: async () => {
      calls.push(["crl"]);
      return "CRL\n";
    },
    revoke: async (serial, reason) => {
      calls.push(["revoke", serial, reason]);
      return `OK revoked ${serial}\n`;
    },
    allowRevoke: true,
    allowShutdown: true,
    ...overrides,
  };
  return { services, calls };
}

async function ask(line: string, body = "", overrides: Partial<Services> = {}): Promise<{ answer: Answer; calls: unknown[][]; internal: unknown[] }> {
  const { services, calls } = fakeServices(overrides);
  const internal: unknown[] = [];
  const result = await answer(line, body, services, (error) => internal.push(error));
  return { answer: result, calls, internal };
}

const COMMANDS = "crl generate help revoke shutdown sign";
const REASONS = "unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation";

const table: [what: string, line: string, body: string, overrides: Partial<Services>, text: string, calls: unknown[][]][] = [
  ["empty line", "", "", {}, "ERROR empty request\n", []],
  ["blank line", "   ", "", {}, "ERROR empty request\n", []],
  ["leading space", " help", "", {}, "ERROR a request starts with a command\n", []],
  ["unknown command", "nosuch x", "", {}, `ERROR unknown command 'nosuch' (commands: ${COMMANDS})\n`, []],
  ["unknown command, control characters", "\u001b[2J", "", {}, `ERROR unknown command '?[2J' (commands: ${COMMANDS})\n`, []],
  ["prototype name", "constructor", "", {}, `ERROR unknown command 'constructor' (commands: ${COMMANDS})\n`, []],
  ["help", "help", "", {}, `${COMMANDS}\n`, []],
  ["help, any case", "HELP", "", {}, `${COMMANDS}\n`, []],
  ["help unknown", "help nosuch", "", {}, "Unknown command nosuch\n", []],
  ["generate", "generate /CN=Bob Owner/O=Acme", "", {}, "KEY+CERT\n", [["generate", "CN=Bob Owner,O=Acme"]]],
  ["generate without a DN", "generate", "", {}, "ERROR generate needs a distinguished name, e.g. generate /CN=Bob Owner\n", []],
  ["generate with a bad DN", "generate /XX=1", "", {}, "ERROR unknown attribute 'XX' (known: CN, L, ST, O, OU, C, STREET, DC, UID, emailAddress)\n", []],
  ["sign", "sign", "PEM\n", {}, "CERT\n", [["sign", "PEM\n"]]],
  ["sign under a template", "sign vpn-client", "PEM\n", {}, "CERT\n", [["sign", "PEM\n", "vpn-client"]]],
  ["sign with two words", "sign vpn-client now", "PEM\n", {}, "ERROR usage: sign [template], then the request on the next lines\n", []],
  ["crl", "crl", "", {}, "CRL\n", [["crl"]]],
  ["revoke", "revoke 0A:0B keyCompromise", "", {}, "OK revoked 0A:0B\n", [["revoke", "0A:0B", "keyCompromise"]]],
  ["revoke, default reason", "revoke 0A0B", "", {}, "OK revoked 0A0B\n", [["revoke", "0A0B", "unspecified"]]],
  ["revoke without a serial", "revoke", "", {}, "ERROR usage: revoke <serial> [reason]\n", []],
  ["revoke with too much", "revoke 1 superseded extra", "", {}, "ERROR usage: revoke <serial> [reason]\n", []],
  ["revoke, unknown reason", "revoke 1 boredom", "", {}, `ERROR unknown reason 'boredom' (known: ${REASONS})\n`, []],
  ["revoke disabled", "revoke 1", "", { allowRevoke: false }, "ERROR revoke is disabled on this server (start it with --allow-revoke)\n", []],
  ["shutdown", "shutdown", "", {}, "OK\n", []],
  ["shutdown disabled", "shutdown", "", { allowShutdown: false }, "ERROR shutdown is disabled on this server (start it with --allow-shutdown)\n", []],
];

test.each(table)("%s", async (_what, line, body, overrides, text, calls) => {
  const result = await ask(line, body, overrides);
  expect(result.answer.text).toBe(text);
  expect(result.calls).toEqual(calls);
  expect(result.internal).toEqual([]);
});

test("help <command> answers that command's help, for every command", async () => {
  for (const name of COMMANDS.split(" ")) {
    const { answer: result } = await ask(`help ${name}`);
    expect(result.text).toStartWith(`${name.toUpperCase()}\n  ${name}`);
    expect(result.text).toContain("\nRETURNS\n");
    expect(result.text).toContain("\nEXAMPLE\n");
  }
});

test("only shutdown's answer asks the worker to stop", async () => {
  expect((await ask("shutdown")).answer.shutdown).toBe(true);
  expect((await ask("help")).answer.shutdown).toBeUndefined();
  expect((await ask("shutdown", "", { allowShutdown: false })).answer.shutdown).toBeUndefined();
});

test("a client's mistake from a service is answered and not logged", async () => {
  const result = await ask("revoke 99", "", {
    revoke: async () => {
      throw new DepotError("E_NOT_FOUND", "no certificate with serial 99 in this depot");
    },
  });
  expect(result.answer.text).toBe("ERROR no certificate with serial 99 in this depot\n");
  expect(result.internal).toEqual([]);
});

test("a server-side failure is answered without the depot's path, and reported for the log", async () => {
  const failure = new DepotError("E_IO", "cannot read /srv/secret/depot/crl.pem: permission denied");
  const result = await ask("crl", "", {
    crl: async () => {
      throw failure;
    },
  });
  expect(result.answer.text).toBe("ERROR cannot read crl.pem: permission denied\n");
  expect(result.internal).toEqual([failure]);
});

test("an unexpected error is answered 'internal error' and reported with itself", async () => {
  const failure = new TypeError("x is undefined");
  const result = await ask("generate /CN=a", "", {
    generate: async () => {
      throw failure;
    },
  });
  expect(result.answer.text).toBe("ERROR internal error; the server log has the details\n");
  expect(result.internal).toEqual([failure]);
});

test("withoutPaths keeps each path's last part and leaves other text alone", () => {
  expect(withoutPaths("cannot write /a/b/c.crt: no space left on device")).toBe("cannot write c.crt: no space left on device");
  expect(withoutPaths("/x/depot is not a depot (it needs depot.cnf, private/ca.key and certificates/ca.crt)")).toBe(
    "depot is not a depot (it needs depot.cnf, private/ca.key and certificates/ca.crt)",
  );
  expect(withoutPaths("the disk holding the depot is full")).toBe("the disk holding the depot is full");
});
