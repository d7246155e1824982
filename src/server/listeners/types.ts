/**
 * @module
 * What a listener is, as the supervisor passes it to every worker: a plain,
 * JSON-serialisable description. One kind per face of the server; each kind
 * has one module in this folder that opens it inside a worker
 * (`registry.ts` maps the kind to the module).
 *
 * To add a kind (HTTP, HTTPS): add its description to `ListenerSpec`, write
 * `listeners/<kind>.ts` exporting an `open` of type `OpenListener`, and name
 * it in `registry.ts`. The port probe, the second-instance claim, the state
 * file and the workers all iterate over `ServerOptions.listeners`.
 */

import type { AcmeSettings } from "../../acme/options.ts";

/** The line protocol (`protocol.ts`): one request per TCP connection. */
export interface LineListenerSpec {
  kind: "line";
  host: string;
  port: number;
}

/** The plain-HTTP publication point (`src/http/public/`): OCSP, CRL, CA certificate, health, metrics. */
export interface HttpListenerSpec {
  kind: "http";
  host: string;
  port: number;
  /** nextUpdate - thisUpdate of OCSP answers, seconds (--ocsp-validity; 1 hour when absent). */
  ocspValiditySeconds?: number;
}

/** The HTTPS JSON API (`src/http/api/`), TLS with the files named here. */
export interface HttpsListenerSpec {
  kind: "https";
  host: string;
  port: number;
  /** PEM: the listener's certificate (the depot's own `https.crt`, or --https-cert) and its key; read by each worker when it starts. */
  certFile: string;
  keyFile: string;
  /**
   * When the depot makes the certificate itself: its names. The upkeep
   * process issues it before the workers start and renews it (then the
   * workers are replaced, as HUP does: a TLS certificate cannot be swapped
   * in a running Bun.serve).
   */
  issueNames?: string[];
  /** Serve ACME under /acme/ with these settings (`--acme`, docs/acme.md). */
  acme?: AcmeSettings;
  /** The base URL clients reach this listener at (--api-url, depot.cnf's api_url): ACME's absolute URLs use it. */
  apiUrl?: string;
  /** `POST /v1/renew` renews a certificate up to this long after it expired (--renew-after-expiry); absent: expired ones are refused. */
  renewAfterExpiryMs?: number;
}

/** Every kind of listener. */
export type ListenerSpec = LineListenerSpec | HttpListenerSpec | HttpsListenerSpec;

export type ListenerKind = ListenerSpec["kind"];

/** host:port as people write it, with brackets round an IPv6 address. */
export function addressOf(listener: { host: string; port: number }): string {
  return `${listener.host.includes(":") ? `[${listener.host}]` : listener.host}:${listener.port}`;
}

/** For log lines: `line 127.0.0.1:35553`. */
export function describeListener(listener: ListenerSpec): string {
  return `${listener.kind} ${addressOf(listener)}`;
}

/** Whether a listener on this host is reachable only from this machine. */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\./.test(host);
}
