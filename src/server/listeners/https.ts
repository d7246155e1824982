/**
 * @module
 * The `https` listener kind in a worker: the /v1/ API over TLS on the shared
 * port (SO_REUSEPORT), with the worker's depot, key pool and metrics (and
 * ACME under /acme/ with --acme). It stops as every Bun.serve listener
 * does (`ServeDrain`, `src/server/listeners/serve-stop.ts`): answers given
 * while stopping carry `Connection: close`, and the drain counts as work in
 * flight.
 */
import { readFileSync } from "node:fs";
import { DepotError } from "../../errors.ts";
import { listenErrorMessage } from "../bind.ts";
import type { ListenerContext, OpenedListener } from "./context.ts";
import { ServeDrain } from "./serve-stop.ts";
import type { HttpsListenerSpec } from "./types.ts";
import { depotApiServices } from "../../http/api/depot-services.ts";
import { createApi } from "../../http/api/index.ts";
import { listenHttps } from "./https-serve.ts";
import { depotScepServices } from "../../http/scep/depot-services.ts";
import { scepHandler } from "../../http/scep/handler.ts";

export async function open(spec: HttpsListenerSpec, context: ListenerContext): Promise<OpenedListener> {
  const internalError = (error: unknown) => context.log("error", `internal error (HTTPS API): ${(error as Error)?.stack ?? error}`);
  const metrics = context.metrics;
  const services = depotApiServices(context.depot, {
    makeKeys: context.makeKeys,
    publishOnRevoke: false,
    ...(context.sshCaKeys ? { sshCaKeys: context.sshCaKeys } : {}),
    renewal: { ...(spec.renewAfterExpiryMs ? { afterExpiryMs: spec.renewAfterExpiryMs } : {}), ...(spec.apiUrl ? { apiUrl: spec.apiUrl } : {}) },
    ...(metrics.reporter ? { metrics: async () => metrics.reporter?.scrape() ?? "" } : {}),
  });
  const api = createApi(
    services,
    {
      internalError,
      received: (method, path) => context.log("debug", `received ${method} ${path.slice(0, 100)} (HTTPS)`),
      served: (route, status, ms) => {
        metrics.httpServed("https", route, status, ms);
        context.log("debug", `served ${route} ${status} in ${ms.toFixed(1)} ms (HTTPS)`);
      },
    },
  );
  // The depot's own certificate is served with the CA that signed it, the
  // root too in a one-tier depot (RFC 8446 4.4.2 lets a server send or omit
  // it). With nothing after the leaf, BoringSSL rebuilds the chain at every
  // handshake (it looks the CA up in the system's store, /etc/ssl/certs, and
  // finds nothing): ~75-100 us of a worker's CPU per new connection, about a
  // tenth of one (docs/performance.md, "2026-12-07, late afternoon").
  let cert: string;
  let key: string;
  try {
    cert = readFileSync(spec.certFile, "utf8");
    key = readFileSync(spec.keyFile, "utf8");
    if (spec.issueNames && context.depot.chainPem === "") cert = `${cert.trimEnd()}\n${readFileSync(context.depot.layout.caCertificate, "utf8")}`;
  } catch (error) {
    throw new DepotError("E_SERVER", `cannot read the HTTPS certificate or key (${spec.certFile}, ${spec.keyFile}): ${(error as Error).message}`);
  }
  // ACME (and jose with it) is loaded only by a server that serves it.
  const acme = spec.acme ? await openAcme(context, spec.acme, spec.apiUrl) : undefined;
  const scep = scepHandler(
    depotScepServices(context.depot, {
      api: services,
      ...(context.scepRaKey ? { raKeyPem: context.scepRaKey } : {}),
      ...(context.config.scepTemplate ? { template: context.config.scepTemplate } : {}),
      refused: (reason) => context.log("info", reason),
      internalError,
    }),
  );
  const drain = new ServeDrain(context.begin);
  try {
    const server = listenHttps({
      hostname: spec.host,
      port: spec.port,
      reusePort: true,
      cert,
      key,
      internalError,
      api: (request, requestContext) => drain.answer(() => api(request, requestContext)),
      ...(acme ? { acme: (request, requestContext) => drain.answer(() => acme.handle(request, requestContext)) } : {}),
      scep: (request, clientAddress) => drain.answer(() => scep(request, clientAddress)),
    });
    return {
      stop: () => void drain.stop(server),
    };
  } catch (error) {
    throw new DepotError("E_SERVER", listenErrorMessage(error, spec.host, spec.port));
  }
}

async function openAcme(context: ListenerContext, settings: NonNullable<HttpsListenerSpec["acme"]>, apiUrl: string | undefined) {
  const { acmeForDepot } = await import("../../acme/mount.ts");
  const { SharedNonceBook } = await import("../../acme/shared-nonce-book.ts");
  const fd = context.config.nonceBookFd;
  return acmeForDepot(context.depot, settings, apiUrl, fd !== undefined ? SharedNonceBook.open(`/dev/fd/${fd}`) : undefined);
}
