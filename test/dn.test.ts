import { describe, expect, test } from "bun:test";
import { attribute, type DistinguishedName, formatDn, MAX_DN_BYTES, parseDn, printable, toJsonName } from "../src/ca/dn.ts";
import { DepotError } from "../src/errors.ts";

/** Runs `fn`, asserts it throws a DepotError E_BAD_DN with exactly `message`. */
function expectBadDn(fn: () => unknown, message: string): void {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(DepotError);
  const error = thrown as DepotError;
  expect(error.code).toBe("E_BAD_DN");
  expect(error.name).toBe("DepotError");
  expect(error.message).toBe(message);
}

const pairs = (dn: DistinguishedName) => dn.map((a) => [a.name, a.value]);

const KNOWN = "CN, L, ST, O, OU, C, STREET, DC, UID, emailAddress";
const EMPTY_ATTRIBUTE = "distinguished name has an empty attribute (two separators in a row, or one at an end)";

describe("parseDn accepts", () => {
  test("the slash form, with ',' also separating, values keeping inner spaces", () => {
    const dn = parseDn("/UID=12/CN=Bob Owner,emailAddress=bob@example.com");
    expect(dn).toEqual([
      { name: "UID", oid: "0.9.2342.19200300.100.1.1", value: "12" },
      { name: "CN", oid: "2.5.4.3", value: "Bob Owner" },
      { name: "emailAddress", oid: "1.2.840.113549.1.9.1", value: "bob@example.com" },
    ]);
  });

  test("RFC 4514 comma form, in the order given (not reversed)", () => {
    expect(pairs(parseDn("CN=Bob Owner,O=Example"))).toEqual([
      ["CN", "Bob Owner"],
      ["O", "Example"],
    ]);
    expect(pairs(parseDn("O=Example,CN=Bob Owner"))).toEqual([
      ["O", "Example"],
      ["CN", "Bob Owner"],
    ]);
  });

  test("'/' is an ordinary character in the comma form", () => {
    expect(pairs(parseDn("CN=a/b,O=c"))).toEqual([
      ["CN", "a/b"],
      ["O", "c"],
    ]);
  });

  test("spaces around names, '=' and separators are trimmed", () => {
    expect(pairs(parseDn("  CN = Bob Owner , O = Example  "))).toEqual([
      ["CN", "Bob Owner"],
      ["O", "Example"],
    ]);
  });

  test("attribute names in any case, spelled back canonically", () => {
    expect(parseDn("cn=x")).toEqual([{ name: "CN", oid: "2.5.4.3", value: "x" }]);
    expect(parseDn("EMAILADDRESS=a@b")).toEqual([{ name: "emailAddress", oid: "1.2.840.113549.1.9.1", value: "a@b" }]);
    expect(pairs(parseDn("/uid=7/Cn=y/dc=example/Street=1 Main St"))).toEqual([
      ["UID", "7"],
      ["CN", "y"],
      ["DC", "example"],
      ["STREET", "1 Main St"],
    ]);
  });

  test("escapes: \\, \\/ \\= \\\\", () => {
    expect(pairs(parseDn("CN=Owner\\, Bob,O=Example"))).toEqual([
      ["CN", "Owner, Bob"],
      ["O", "Example"],
    ]);
    expect(pairs(parseDn("/CN=a\\/b/O=c"))).toEqual([
      ["CN", "a/b"],
      ["O", "c"],
    ]);
    expect(pairs(parseDn("/CN=a\\,b"))).toEqual([["CN", "a,b"]]);
    expect(pairs(parseDn("CN=a\\=b"))).toEqual([["CN", "a=b"]]);
    expect(pairs(parseDn("CN=back\\\\slash"))).toEqual([["CN", "back\\slash"]]);
  });

  test.each([
    ["CN", "2.5.4.3", "Bob"],
    ["L", "2.5.4.7", "Springfield"],
    ["ST", "2.5.4.8", "Oregon"],
    ["O", "2.5.4.10", "Example Inc"],
    ["OU", "2.5.4.11", "Engineering"],
    ["C", "2.5.4.6", "US"],
    ["STREET", "2.5.4.9", "742 Evergreen Terrace"],
    ["DC", "0.9.2342.19200300.100.1.25", "example"],
    ["UID", "0.9.2342.19200300.100.1.1", "bob12"],
    ["emailAddress", "1.2.840.113549.1.9.1", "bob@example.com"],
  ])("known attribute %s (%s)", (name, oid, value) => {
    expect(parseDn(`${name}=${value}`)).toEqual([{ name, oid, value }]);
    expect(parseDn(`/${name.toLowerCase()}=${value}`)).toEqual([{ name, oid, value }]);
  });

  test("all ten known attributes in one name", () => {
    const dn = parseDn(
      "/C=US/ST=Oregon/L=Springfield/STREET=742 Evergreen Terrace/O=Example/OU=Eng/DC=example/UID=12/CN=Bob/emailAddress=bob@example.com",
    );
    expect(dn.map((a) => a.name)).toEqual(["C", "ST", "L", "STREET", "O", "OU", "DC", "UID", "CN", "emailAddress"]);
  });

  test("CN of 64 characters, counted in code points, not UTF-16 units", () => {
    expect(parseDn(`CN=${"a".repeat(64)}`)[0]!.value).toBe("a".repeat(64));
    const emoji = "\u{1F600}".repeat(64); // 128 UTF-16 units, 256 UTF-8 bytes
    expect(parseDn(`CN=${emoji}`)[0]!.value).toBe(emoji);
  });

  test("a DN of exactly MAX_DN_BYTES (4096) bytes", () => {
    expect(MAX_DN_BYTES).toBe(4096);
    const pieces = Array.from({ length: 62 }, () => `OU=${"x".repeat(61)}`); // 64 bytes each
    pieces.push(`OU=${"y".repeat(63)}`); // 66 bytes
    const text = pieces.join(",");
    expect(Buffer.byteLength(text)).toBe(4096);
    expect(parseDn(text)).toHaveLength(63);
  });

  test("country codes of two letters, in either case; the certificate gets upper case", () => {
    expect(parseDn("C=us")).toEqual([{ name: "C", oid: "2.5.4.6", value: "us" }]);
    expect(toJsonName(parseDn("C=us,CN=x"))).toEqual([
      { "2.5.4.6": [{ printableString: "US" }] },
      { "2.5.4.3": [{ utf8String: "x" }] },
    ] as unknown as ReturnType<typeof toJsonName>);
  });

  test("non-ASCII in UTF8String attributes", () => {
    expect(parseDn("CN=Zoë Ünïcode,O=Société")).toEqual([
      { name: "CN", oid: "2.5.4.3", value: "Zoë Ünïcode" },
      { name: "O", oid: "2.5.4.10", value: "Société" },
    ]);
  });
});

describe("parseDn rejects", () => {
  test("an unknown attribute", () => {
    expectBadDn(() => parseDn("CN=x,XX=1"), `unknown attribute 'XX' (known: ${KNOWN})`);
    expectBadDn(() => parseDn("/serialNumber=5"), `unknown attribute 'serialNumber' (known: ${KNOWN})`);
  });

  test("an empty value", () => {
    expectBadDn(() => parseDn("CN="), "empty value for CN");
    expectBadDn(() => parseDn("/cn=   /O=x"), "empty value for CN");
    expectBadDn(() => parseDn("O=x,emailaddress="), "empty value for emailAddress");
  });

  test("a missing '='", () => {
    expectBadDn(() => parseDn("CN"), "'CN' has no '=' (expected NAME=value)");
    expectBadDn(() => parseDn("CN=Bob, Jr"), "'Jr' has no '=' (expected NAME=value)");
    expectBadDn(() => parseDn("CN\\=x"), "'CN=x' has no '=' (expected NAME=value)");
  });

  test("a value holding an unescaped '='", () => {
    expectBadDn(() => parseDn("CN=a=b"), "value of CN holds '=': escape it as '\\='");
    expectBadDn(() => parseDn("/O=x/cn=a=b=c"), "value of CN holds '=': escape it as '\\='");
  });

  test.each([
    ["CR", "CN=a\rb", "0D"],
    ["LF", "CN=a\nb", "0A"],
    ["NUL", "CN=a\u0000b", "00"],
    ["TAB", "CN=a\tb", "09"],
    ["DEL", "CN=a\u007fb", "7F"],
    ["LF between attributes", "CN=a,\nO=b", "0A"],
  ])("a control character: %s", (_label, text, code) => {
    expectBadDn(() => parseDn(text), `distinguished name holds a control character (0x${code})`);
  });

  test("a lone surrogate (not encodable as UTF-8)", () => {
    expectBadDn(() => parseDn("CN=a\uD800b"), "distinguished name is not valid UTF-8");
    expectBadDn(() => parseDn("CN=\uDC00"), "distinguished name is not valid UTF-8");
  });

  test("a DN over 4096 bytes", () => {
    const pieces = Array.from({ length: 62 }, () => `OU=${"x".repeat(61)}`);
    pieces.push(`OU=${"y".repeat(64)}`); // 4097 bytes
    const text = pieces.join(",");
    expect(Buffer.byteLength(text)).toBe(4097);
    expectBadDn(() => parseDn(text), "distinguished name is longer than 4096 bytes");
  });

  test("a DN over 4096 bytes but under 4096 characters (bytes are counted)", () => {
    const text = Array.from({ length: 32 }, () => `O=${"é".repeat(64)}`).join(",");
    expect(text.length).toBeLessThan(4096);
    expect(Buffer.byteLength(text)).toBe(4191);
    expectBadDn(() => parseDn(text), "distinguished name is longer than 4096 bytes");
  });

  test("a CN of 65 characters", () => {
    expectBadDn(() => parseDn(`CN=${"a".repeat(65)}`), "CN is longer than 64 characters");
    expectBadDn(() => parseDn(`/CN=${"\u{1F600}".repeat(65)}`), "CN is longer than 64 characters");
  });

  test("other attributes over their RFC 5280 bounds", () => {
    expectBadDn(() => parseDn(`O=${"o".repeat(65)}`), "O is longer than 64 characters");
    expectBadDn(() => parseDn(`L=${"l".repeat(129)}`), "L is longer than 128 characters");
    expectBadDn(() => parseDn(`DC=${"d".repeat(64)}`), "DC is longer than 63 characters");
  });

  test("a country code that is not two letters", () => {
    expectBadDn(() => parseDn("C=USA"), "country code 'USA' is not two letters");
    expectBadDn(() => parseDn("C=1"), "country code '1' is not two letters");
    expectBadDn(() => parseDn("/C=U1"), "country code 'U1' is not two letters");
  });

  test("non-ASCII in IA5String attributes", () => {
    expectBadDn(() => parseDn("emailAddress=zoë@example.com"), "emailAddress must be plain ASCII");
    expectBadDn(() => parseDn("DC=exämple"), "DC must be plain ASCII");
  });

  test("an empty DN", () => {
    expectBadDn(() => parseDn(""), "distinguished name is empty");
    expectBadDn(() => parseDn("   "), "distinguished name is empty");
  });

  test("an empty attribute between separators, or at an end", () => {
    expectBadDn(() => parseDn("CN=a,,O=b"), EMPTY_ATTRIBUTE);
    expectBadDn(() => parseDn("/CN=a//O=b"), EMPTY_ATTRIBUTE);
    expectBadDn(() => parseDn("/CN=a/,O=b"), EMPTY_ATTRIBUTE);
    expectBadDn(() => parseDn("CN=a,"), EMPTY_ATTRIBUTE);
    expectBadDn(() => parseDn(",CN=a"), EMPTY_ATTRIBUTE);
    expectBadDn(() => parseDn("/"), EMPTY_ATTRIBUTE);
    expectBadDn(() => parseDn("CN=a, ,O=b"), EMPTY_ATTRIBUTE);
  });

  test("a trailing lone backslash", () => {
    expectBadDn(() => parseDn("CN=a\\"), "distinguished name ends with a lone '\\'");
  });
});

describe("formatDn", () => {
  test("comma-separated, in order, with RFC 4514 escapes", () => {
    expect(formatDn(parseDn("/UID=12/CN=Bob Owner,emailAddress=bob@example.com"))).toBe(
      "UID=12,CN=Bob Owner,emailAddress=bob@example.com",
    );
    expect(formatDn([{ name: "CN", oid: "2.5.4.3", value: 'a,b+c"d\\e<f>g;h=i' }])).toBe('CN=a\\,b\\+c\\"d\\\\e\\<f\\>g\\;h\\=i');
  });

  test("round-trips through parseDn", () => {
    for (const text of ["CN=Owner\\, Bob,O=Example", "/CN=a\\/b/O=c\\=d", "CN=back\\\\slash,OU=x;y"]) {
      const dn = parseDn(text);
      expect(parseDn(formatDn(dn))).toEqual(dn);
    }
  });
});

describe("attribute", () => {
  test("builds one validated attribute", () => {
    expect(attribute("CN", "Bob Owner")).toEqual({ name: "CN", oid: "2.5.4.3", value: "Bob Owner" });
    expect(attribute("uid", "12")).toEqual({ name: "UID", oid: "0.9.2342.19200300.100.1.1", value: "12" });
    expect(attribute("O", "Acme, Inc/Labs")).toEqual({ name: "O", oid: "2.5.4.10", value: "Acme, Inc/Labs" });
  });

  test("validates like parseDn", () => {
    expectBadDn(() => attribute("XX", "1"), `unknown attribute 'XX' (known: ${KNOWN})`);
    expectBadDn(() => attribute("CN", ""), "empty value for CN");
    expectBadDn(() => attribute("CN", "a".repeat(65)), "CN is longer than 64 characters");
    expectBadDn(() => attribute("C", "USA"), "country code 'USA' is not two letters");
  });

  // BUG (src/ca/dn.ts, attribute()): the value is escaped (`=` -> `\=`, `\` -> `\\`)
  // but handed to parseAttribute as an already-resolved Piece, so the backslashes
  // stay in the value. `depot init` with a label holding '=' or '\' gets a CA
  // subject with stray backslashes.
  test("keeps '=' and '\\' in the value as given (no stray escapes)", () => {
    expect(attribute("O", "R=D").value).toBe("R=D");
    expect(attribute("CN", "a\\b").value).toBe("a\\b");
  });
});

describe("names that could deceive a reader (issue 9, item 14)", () => {
  test.each([
    ["NEL (C1)", "CN=a\u0085b", "distinguished name holds a control character (0x85)"],
    ["CSI (C1)", "CN=a\u009b2Jb", "distinguished name holds a control character (0x9B)"],
    ["line separator", "CN=a\u2028b", "distinguished name holds a control character (U+2028)"],
    ["right-to-left override", "CN=Bob\u202Etxt.exe", "distinguished name holds a bidirectional control character (U+202E)"],
    ["first-strong isolate", "CN=a\u2068b", "distinguished name holds a bidirectional control character (U+2068)"],
  ])("parseDn refuses a %s", (_label, text, message) => {
    expectBadDn(() => parseDn(text), message);
  });

  test("printable() escapes controls and bidi characters, and leaves other text alone", () => {
    expect(printable("CN=Bob\u202Etxt.exe,O=a\u0085b\u009bc\u2028d\u0007e\u001b[31m")).toBe(
      "CN=Bob\\u{202E}txt.exe,O=a\\u{0085}b\\u{009B}c\\u{2028}d\\u{0007}e\\u{001B}[31m",
    );
    expect(printable("CN=Zoë Ωmega 山田,O=Example")).toBe("CN=Zoë Ωmega 山田,O=Example");
  });
});

describe("emailAddress", () => {
  test("must be an address", () => {
    expectBadDn(() => attribute("emailAddress", "not-an-email"), "'not-an-email' is not an e-mail address (name@example.com)");
    expectBadDn(() => parseDn("/CN=Bob/emailAddress=bob@"), "'bob@' is not an e-mail address (name@example.com)");
  });
  test("accepts the usual forms", () => {
    for (const address of ["bob@example.com", "bob.owner+ca@mail.example.co.uk", "root@localhost"]) {
      expect(attribute("emailAddress", address).value).toBe(address);
    }
  });
});
