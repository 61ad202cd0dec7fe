/** Child processes of the service scripts: commands run to completion, pids watched. */
import { UserError } from "../../lib/errors/mod.ts";
import { log } from "../../lib/log/mod.ts";

/** Runs a command to completion and returns its stdout; on failure, shows its last lines. */
export async function run(
  command: string,
  args: string[],
  options: { what: string; hint?: string },
): Promise<string> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(command, { args, stdin: "null" }).output();
  } catch (error) {
    throw new UserError(`Cannot ${options.what}: ${command} is not installed`, {
      hint: options.hint,
      cause: error,
    });
  }
  if (output.success) return new TextDecoder().decode(output.stdout);
  const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
  // deno-lint-ignore no-control-regex
  const lines = text.replace(/\x1b\[[0-9;]*m/g, "").trim().split("\n").slice(-15);
  for (const line of lines) log(`  ${line}`);
  throw new UserError(`Cannot ${options.what}: ${command} exited with code ${output.code}`, {
    hint: options.hint,
  });
}

export async function showLogTail(file: string): Promise<void> {
  const text = await Deno.readTextFile(file).catch(() => "");
  for (const line of text.trimEnd().split("\n").slice(-20)) log(`  ${line}`);
}

export async function isAlive(pid: number): Promise<boolean> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`).catch(() => undefined);
  if (stat === undefined) return false;
  if (!/^\d+ \(.*\) Z /s.test(stat)) return true;
  // "Z" is a process that exited and waits to be collected, or one whose main thread ended
  // while other threads still run (the JVM during shutdown): only the latter has threads left.
  let threads = 0;
  try {
    for await (const _ of Deno.readDir(`/proc/${pid}/task`)) threads++;
  } catch {
    return false;
  }
  return threads > 1;
}

export async function exited(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!await isAlive(pid)) return true;
    await new Promise((done) => setTimeout(done, 200));
  }
  return false;
}

/** Seconds since `since` (a performance.now() reading), one decimal. */
export function seconds(since: number): string {
  return ((performance.now() - since) / 1000).toFixed(1);
}
