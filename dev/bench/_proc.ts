/** Process figures from Linux's /proc: CPU time, peak resident memory, pids of the services. */

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ; 100 on every Linux build here). */
const TICKS_PER_SECOND = 100;

/** CPU seconds (user + system) a process has used so far, or undefined if it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return undefined;
  }
  // The command name may hold spaces and parentheses: fields are counted after the last ")".
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // Fields 14 and 15 of stat (utime, stime) are at 11 and 12 once pid and comm are cut off.
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/** A field of /proc/<pid>/status in bytes (VmHWM: peak resident set), or undefined. */
export function statusBytes(pid: number, field: "VmHWM" | "VmRSS"): number | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/status`);
  } catch {
    return undefined;
  }
  const match = text.match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"));
  return match ? Number(match[1]) * 1024 : undefined;
}

/** The oldest process whose command line matches `pattern` (pgrep -f), or undefined. */
export async function findPid(pattern: string, exact = false): Promise<number | undefined> {
  try {
    const output = await new Deno.Command("pgrep", {
      args: [exact ? "-xo" : "-fo", pattern],
      stdout: "piped",
      stderr: "null",
    }).output();
    const pid = Number(new TextDecoder().decode(output.stdout).trim());
    return output.success && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** CPU seconds of several processes, sampled over time to cut out any window afterwards. */
export class CpuSampler {
  private readonly samples: { at: number; cpu: Map<string, number> }[] = [];
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly pids: Map<string, number | undefined>) {}

  /** Samples every `intervalMs` until stop(). */
  start(intervalMs = 200): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
    this.sample();
  }

  /** Adds a process (e.g. a child started after the sampler). */
  add(name: string, pid: number): void {
    this.pids.set(name, pid);
  }

  private sample(): void {
    const cpu = new Map<string, number>();
    for (const [name, pid] of this.pids) {
      const seconds = pid === undefined ? undefined : cpuSeconds(pid);
      if (seconds !== undefined) cpu.set(name, seconds);
    }
    this.samples.push({ at: Date.now(), cpu });
  }

  /**
   * Share of one core each process used between two times (Date.now() values), from the
   * samples nearest inside that window; 1.0 means one core fully busy.
   */
  usage(from: number, to: number): Record<string, number | null> {
    const inside = this.samples.filter((s) => s.at >= from - 100 && s.at <= to + 100);
    const result: Record<string, number | null> = {};
    for (const name of this.pids.keys()) {
      const seen = inside.filter((s) => s.cpu.has(name));
      if (seen.length < 2) {
        result[name] = null;
        continue;
      }
      const first = seen[0];
      const last = seen[seen.length - 1];
      const seconds = (last.at - first.at) / 1000;
      result[name] = seconds > 0 ? (last.cpu.get(name)! - first.cpu.get(name)!) / seconds : null;
    }
    return result;
  }
}

const onStop = new Set<() => void>();

/**
 * Runs `cleanup` if the benchmark is interrupted (SIGINT, SIGTERM) before the returned
 * function is called: a child process (consumer, database server) must not outlive it.
 */
export function whenInterrupted(cleanup: () => void): () => void {
  if (!onStop.size) {
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      Deno.addSignalListener(signal, () => {
        for (const stop of onStop) {
          try {
            stop();
          } catch {
            // already gone
          }
        }
        Deno.exit(130);
      });
    }
  }
  onStop.add(cleanup);
  return () => onStop.delete(cleanup);
}
