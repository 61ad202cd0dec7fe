/**
 * The operations endpoint: /metrics for Prometheus, /healthz (the process is alive) and
 * /readyz (the consumer can do its work) for orchestrators. Built on Deno.serve; no request
 * can make it throw into the program that runs it.
 */

/** Result of a readiness probe: each check is "ok" or says what is wrong. */
export interface Readiness {
  readonly ok: boolean;
  readonly checks: Readonly<Record<string, string>>;
}

export interface HttpOptions {
  /** Address to listen on; default 127.0.0.1 (0.0.0.0 to be scraped from other hosts). */
  readonly hostname?: string;
  /** Port; 0 picks a free one (read it back from the result). */
  readonly port: number;
  /** What /metrics serves. */
  readonly metrics: { render(): string };
  /** Asked on every /readyz. */
  readonly ready: () => Promise<Readiness>;
  /** A /readyz whose ready() has not answered by then is 503; default 2000 ms. */
  readonly readyTimeoutMs?: number;
  /** Told about a handler failure (the client gets a 500); default: nothing. */
  readonly onError?: (error: unknown) => void;
}

/** A listening endpoint. */
export interface HttpEndpoint {
  readonly hostname: string;
  readonly port: number;
  /** `http://host:port`, for logs and for tests. */
  readonly url: string;
  /** Stops listening and waits for requests in flight; safe to call twice. */
  close(): Promise<void>;
}

/** The content type of the text exposition format 0.0.4. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** The error for a port that cannot be listened on, with what to do about it. */
export class ListenError extends Error {
  constructor(address: string, cause: unknown) {
    const busy = cause instanceof Deno.errors.AddrInUse;
    super(
      busy
        ? `Cannot serve metrics on ${address}: the port is in use by another program; ` +
          "choose another port (0 picks a free one)"
        : `Cannot serve metrics on ${address}: ${(cause as Error)?.message ?? cause}; ` +
          "check the host name and port",
      { cause },
    );
    this.name = "ListenError";
  }
}

/** Starts serving; throws a ListenError when the address cannot be bound. */
export function startHttp(options: HttpOptions): HttpEndpoint {
  const hostname = options.hostname ?? "127.0.0.1";
  if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) {
    throw new RangeError(`Metrics port must be an integer from 0 to 65535, got ${options.port}`);
  }
  const handle = handler(options);
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
      hostname,
      port: options.port,
      // The default prints "Listening on ..." to stdout, which carries the event lines.
      onListen: () => {},
      // Reached only if the handler itself failed to produce a response.
      onError: (error) => {
        options.onError?.(error);
        return text(500, "internal error\n");
      },
    }, handle);
  } catch (error) {
    const shown = hostname.includes(":") ? `[${hostname}]` : hostname;
    throw new ListenError(`${shown}:${options.port}`, error);
  }
  const addr = server.addr;
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  let closing: Promise<void> | undefined;
  return {
    hostname: addr.hostname,
    port: addr.port,
    url: `http://${host}:${addr.port}`,
    close: () => closing ??= server.shutdown(),
  };
}

function handler(options: HttpOptions): (request: Request) => Promise<Response> {
  const timeoutMs = options.readyTimeoutMs ?? 2000;
  return async (request) => {
    try {
      let path: string;
      try {
        path = new URL(request.url).pathname;
      } catch {
        return text(400, "bad request\n");
      }
      if (path !== "/metrics" && path !== "/healthz" && path !== "/readyz") {
        return text(404, "not found: try /metrics, /healthz or /readyz\n");
      }
      if (request.method !== "GET" && request.method !== "HEAD") {
        return new Response("method not allowed\n", {
          status: 405,
          headers: { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" },
        });
      }
      const response = path === "/metrics"
        ? new Response(options.metrics.render(), {
          headers: { "content-type": METRICS_CONTENT_TYPE, "cache-control": "no-store" },
        })
        : path === "/healthz"
        ? text(200, "ok\n")
        : await readiness(options.ready, timeoutMs);
      return request.method === "HEAD"
        ? new Response(null, { status: response.status, headers: response.headers })
        : response;
    } catch (error) {
      options.onError?.(error);
      return text(500, "internal error\n");
    }
  };
}

/** 200 or 503 with a JSON body; a probe that throws or hangs is a failing check of its own. */
async function readiness(ready: () => Promise<Readiness>, timeoutMs: number): Promise<Response> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let result: Readiness;
  try {
    result = await Promise.race([
      ready(),
      new Promise<Readiness>((resolve) => {
        timer = setTimeout(() =>
          resolve({
            ok: false,
            checks: { readiness: `no answer within ${timeoutMs} ms` },
          }), timeoutMs);
      }),
    ]);
  } catch (error) {
    result = { ok: false, checks: { readiness: `failed: ${(error as Error)?.message ?? error}` } };
  } finally {
    clearTimeout(timer);
  }
  const checks = result?.checks ?? {};
  const failing = Object.fromEntries(Object.entries(checks).filter(([, v]) => v !== "ok"));
  const ok = result?.ok === true;
  // ok: false with every check "ok" still fails: the body must say so.
  if (!ok && !Object.keys(failing).length) failing.readiness = "not ready";
  const body = ok ? { status: "ready", checks } : { status: "not ready", failing, checks };
  return new Response(JSON.stringify(body) + "\n", {
    status: ok ? 200 : 503,
    headers: { "content-type": "application/json", "cache-control": "no-store" },
  });
}

function text(status: number, body: string): Response {
  return new Response(body, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}
