/**
 * @module
 * The line protocol's listener in a worker: `Bun.listen` on the shared
 * host:port with SO_REUSEPORT (the kernel spreads connections over the
 * workers); each connection is a `Connection` (`../connection.ts`).
 */
import type { Socket, TCPSocketListener } from "bun";
import { DepotError } from "../../errors.ts";
import { listenErrorMessage } from "../bind.ts";
import { Connection } from "../connection.ts";
import type { ListenerContext, OpenedListener } from "./context.ts";
import type { LineListenerSpec } from "./types.ts";

export function open(spec: LineListenerSpec, context: ListenerContext): OpenedListener {
  let held = 0;
  const socket = {
    open(socket: Socket<Connection>) {
      if (context.stopping || held >= context.config.maxConnectionQueue) {
        socket.end("ERROR busy\n");
        return;
      }
      held++;
      const done = context.begin();
      socket.data = new Connection(socket, {
        services: context.services,
        finished: () => {
          held--;
          done();
        },
        shutdownRequested: () => setImmediate(() => context.requestStop("asked to stop by a client (shutdown)")),
        internalError: (error) => context.log("error", `internal error: ${(error as Error)?.stack ?? error}`),
        served: (command, ms) => context.log("debug", `served ${command} in ${ms.toFixed(1)} ms`),
      });
    },
    data: (socket: Socket<Connection>, chunk: Buffer) => socket.data?.onData(chunk),
    drain: (socket: Socket<Connection>) => socket.data?.onDrain(),
    close: (socket: Socket<Connection>) => socket.data?.onClose(),
    error: (socket: Socket<Connection>) => socket.data?.onClose(),
  };
  let listener: TCPSocketListener<Connection>;
  try {
    // reusePort is read by Bun.listen, though bun-types only declares it for connect.
    const options = { hostname: spec.host, port: spec.port, reusePort: true, socket };
    listener = Bun.listen<Connection>(options as unknown as Bun.TCPSocketListenOptions<Connection>);
  } catch (error) {
    throw new DepotError("E_SERVER", listenErrorMessage(error, spec.host, spec.port));
  }
  return { stop: () => listener.stop(false) };
}
