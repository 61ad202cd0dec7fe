/** Where a service is, whether something answers there, and what `status` says of it. */
import { UserError } from "../../lib/errors/mod.ts";

/** A host and TCP port. */
export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

/** Parses "host:port", "[::1]:port" or "host" (then `defaultPort`). */
export function parseEndpoint(address: string, defaultPort: number): Endpoint {
  const match = /^\[([^\]]+)\](?::(\d+))?$/.exec(address) ?? /^([^:]+)(?::(\d+))?$/.exec(address);
  const port = Number(match?.[2] ?? defaultPort);
  if (!match || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new UserError(`Cannot parse address "${address}": expected host:port`);
  }
  return { host: match[1], port };
}

/** "host:port", with brackets around IPv6 hosts. */
export function formatEndpoint({ host, port }: Endpoint): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Only a service on this machine can be started by this project. */
export function isLocalHost(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Does something accept TCP connections there (within `timeoutMs`)? */
export async function portAnswers(endpoint: Endpoint, timeoutMs = 1000): Promise<boolean> {
  const connecting = Deno.connect({ hostname: endpoint.host, port: endpoint.port });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((done) => timer = setTimeout(done, timeoutMs, "timeout"));
  try {
    const result = await Promise.race([connecting, timeout]);
    if (result === "timeout") {
      // A late connection must still be closed.
      connecting.then((conn) => conn.close(), () => {});
      return false;
    }
    result.close();
    return true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/** One line of `services status`. */
export interface ServiceStatus {
  readonly name: "kafka" | "mariadb";
  readonly up: boolean;
  /** Where it was looked for; a database URL has its password masked. */
  readonly address: string;
  readonly detail: string;
}
