/**
 * `deno task readyz`: asks a running consumer's /readyz (consumer.http in pipeline.yaml) and
 * exits 0 when it is ready. The probe of the container's healthcheck and of the systemd
 * unit's ExecStartPost: it needs no curl in the image, and reads the port from the config.
 */
import { ExitCode, numberFlag, parseFlags, runMain, UserError } from "../lib/cli/mod.ts";
import { loadConfig } from "../lib/config/mod.ts";
import { log, out } from "../lib/log/mod.ts";

const help = `Asks the consumer's readiness endpoint and exits 0 when it answers 200.

USAGE:
  deno task readyz [OPTIONS]

OPTIONS:
  --config PATH       pipeline.yaml whose consumer.http names the endpoint
                      (default: $PIPELINE_CONFIG or ./pipeline.yaml)
  --url URL           ask this URL instead (e.g. http://10.0.0.7:9464/readyz)
  --wait SECONDS      keep asking until ready, for at most this long (default 0: ask once)
  --timeout-ms MS     time allowed for one answer (default 3000)
  -h, --help          show this help

A consumer listening on 0.0.0.0 or :: is asked on 127.0.0.1 or ::1.

EXIT CODES:
  0  ready (200)
  1  not ready (503, with the failing checks), or no answer
  2  usage or config error (consumer.http not set, or port 0)`;

/** The /readyz URL of consumer.http, as a client on the same machine reaches it. */
export function readyzUrl(http: { host: string; port: number } | undefined): string {
  if (!http) {
    throw new UserError("Cannot ask /readyz: consumer.http is not set in pipeline.yaml", {
      hint: "set consumer.http: { host, port } (the consumer then serves it), or pass --url",
    });
  }
  if (http.port === 0) {
    throw new UserError("Cannot ask /readyz: consumer.http.port is 0 (picked at start)", {
      hint: "set a fixed port, or pass the URL the consumer printed with --url",
    });
  }
  const host = http.host === "0.0.0.0"
    ? "127.0.0.1"
    : http.host === "::" || http.host === "[::]"
    ? "[::1]"
    : http.host.includes(":") && !http.host.startsWith("[")
    ? `[${http.host}]`
    : http.host;
  return `http://${host}:${http.port}/readyz`;
}

/** One ask: [ready, what to print]. */
async function ask(url: string, timeoutMs: number): Promise<[boolean, string]> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    const body = (await response.text()).trim();
    return [response.status === 200, `${response.status} ${body}`];
  } catch (error) {
    const reason = error instanceof DOMException && error.name === "TimeoutError"
      ? `no answer within ${timeoutMs} ms`
      : `no answer (${(error as Error).message.split("\n")[0]})`;
    return [false, reason];
  }
}

if (import.meta.main) {
  runMain(async () => {
    const { values } = parseFlags(Deno.args, {
      url: { type: "string" },
      wait: { type: "string" },
      "timeout-ms": { type: "string" },
    });
    if (values.help) {
      out(help);
      return ExitCode.ok;
    }
    const waitMs = (numberFlag("wait", values.wait) ?? 0) * 1000;
    const timeoutMs = numberFlag("timeout-ms", values["timeout-ms"], { integer: true, min: 1 }) ??
      3000;
    const url = values.url ?? readyzUrl((await loadConfig(values.config)).consumer.http);
    const deadline = Date.now() + waitMs;
    for (;;) {
      const [ready, said] = await ask(url, timeoutMs);
      if (ready || Date.now() >= deadline) {
        (ready ? out : log)(`${ready ? "ready" : "not ready"}: ${url}: ${said}`);
        return ready ? ExitCode.ok : ExitCode.failure;
      }
      await new Promise((done) => setTimeout(done, Math.min(500, deadline - Date.now())));
    }
  });
}
