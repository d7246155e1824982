/**
 * @module
 * The `http` listener kind in a worker: the plain-HTTP publication point
 * (OCSP, CRL, CA certificate, health, metrics; `src/http/public/`), served
 * with Bun.serve and reusePort on the shared --http-host:--http-port.
 * Each request counts as in flight for the worker's graceful stop.
 */
import { PublicListener } from "./public-listener.ts";
import type { ListenerContext, OpenedListener } from "./context.ts";
import type { HttpListenerSpec } from "./types.ts";

export function open(spec: HttpListenerSpec, context: ListenerContext): OpenedListener {
  const listener = new PublicListener({
    depot: context.depot,
    host: spec.host,
    port: spec.port,
    ...(spec.ocspValiditySeconds ? { ocspValiditySeconds: spec.ocspValiditySeconds } : {}),
    ...(context.metrics.reporter ? { metrics: context.metrics.reporter } : {}),
    workers: () => context.metrics.reporter?.liveWorkers() ?? context.config.processCount ?? 1,
    begin: () => context.begin(),
    onError: (error) => context.log("error", `internal error (http): ${(error as Error)?.stack ?? error}`),
    scep: { makeKeys: (type) => context.makeKeys(type), ...(context.scepRaKey ? { raKeyPem: context.scepRaKey } : {}), ...(context.config.scepTemplate ? { template: context.config.scepTemplate } : {}), refused: (reason) => context.log("info", reason) },
  });
  listener.start();
  return {
    // The drain (serve-stop.ts) counts as work in flight, so the worker exits after it.
    stop: () => void listener.stop(),
  };
}
