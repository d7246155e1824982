/**
 * @module Which identifiers ACME may certify: the checks of an identifier's
 * form (RFC 8555 7.1.4, RFC 8738) and the operator's `--acme-allow`
 * patterns: DNS globs where `*` stands for one or more labels
 * (`*.example.com` covers `a.example.com`, `a.b.example.com` and the
 * wildcard `*.example.com`; `example.com` only itself) and IP CIDRs
 * (`10.0.0.0/8`, `fd00::/8`; a bare address is a /32 or /128).
 */

import { BlockList, isIP } from "node:net";
import { DepotError } from "../errors.ts";
import { problem } from "./problem.ts";
import type { Identifier } from "./types.ts";

const LABEL = "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?";
const DNS_NAME = new RegExp(`^(${LABEL}\\.)*${LABEL}$`);

/** Lower-cases and checks one identifier from a newOrder; throws rejectedIdentifier / unsupportedIdentifier / malformed. */
export function normaliseIdentifier(value: unknown): Identifier {
  const id = value as { type?: unknown; value?: unknown };
  if (!id || typeof id !== "object" || typeof id.value !== "string") throw problem("malformed", "an identifier needs a type and a string value");
  if (id.type === "ip") {
    if (!isIP(id.value)) throw problem("malformed", `'${id.value}' is not an IP address`, { identifier: { type: "ip", value: id.value } });
    return { type: "ip", value: canonicalIp(id.value) };
  }
  if (id.type !== "dns") throw problem("unsupportedIdentifier", `identifier type '${String(id.type)}' is not supported (dns, ip)`);
  const name = id.value.toLowerCase().replace(/\.$/, "");
  const bare = name.startsWith("*.") ? name.slice(2) : name;
  if (name.length > 253 || !DNS_NAME.test(bare) || isIP(bare)) {
    throw problem("rejectedIdentifier", `'${id.value}' is not a valid DNS name`, { identifier: { type: "dns", value: id.value } });
  }
  if (!bare.includes(".") && bare !== "localhost") {
    throw problem("rejectedIdentifier", `'${id.value}' is a single label; depot certifies fully qualified names (and localhost)`, { identifier: { type: "dns", value: id.value } });
  }
  return { type: "dns", value: name };
}

/** The one text form of an address, so 0:0::1 and ::1 are one identifier. */
export function canonicalIp(address: string): string {
  if (isIP(address) === 4) return address.split(".").map(Number).join(".");
  return new URL(`http://[${address}]/`).hostname.slice(1, -1);
}

/** A set of allow patterns; empty allows every well-formed identifier. */
export class NamePolicy {
  private readonly globs: RegExp[] = [];
  private readonly networks = new BlockList();
  private readonly empty: boolean;

  constructor(readonly patterns: string[]) {
    this.empty = patterns.length === 0;
    for (const pattern of patterns) {
      const cidr = /^([0-9a-f:.]+)(?:\/(\d{1,3}))?$/i.exec(pattern.trim());
      if (cidr && isIP(cidr[1]!)) {
        const family = isIP(cidr[1]!) === 4 ? "ipv4" : "ipv6";
        const prefix = cidr[2] === undefined ? (family === "ipv4" ? 32 : 128) : Number(cidr[2]);
        if (prefix > (family === "ipv4" ? 32 : 128)) throw new DepotError("E_BAD_ARGUMENT", `'${pattern}' is not a valid CIDR`);
        this.networks.addSubnet(cidr[1]!, prefix, family);
        continue;
      }
      const glob = pattern.trim().toLowerCase();
      if (!/^[a-z0-9*.-]+$/.test(glob)) throw new DepotError("E_BAD_ARGUMENT", `'${pattern}' is neither a DNS glob (like *.example.com) nor an IP CIDR (like 10.0.0.0/8)`);
      const source = glob.split("*").map((part) => part.replace(/[.\-]/g, "\\$&")).join("[a-z0-9*.-]+");
      this.globs.push(new RegExp(`^${source}$`));
    }
  }

  allows(identifier: Identifier): boolean {
    if (this.empty) return true;
    if (identifier.type === "ip") return this.networks.check(identifier.value, isIP(identifier.value) === 4 ? "ipv4" : "ipv6");
    return this.globs.some((glob) => glob.test(identifier.value));
  }
}
