/** The process's own metrics under the names Prometheus client libraries use, read at scrape time. */
import process from "node:process";
import type { Registry } from "./_registry.ts";

/** Registers memory, heap, CPU and start-time metrics; their values are read on each render. */
export function registerProcessMetrics(registry: Registry): void {
  const rss = registry.gauge({
    name: "process_resident_memory_bytes",
    help: "Resident memory size in bytes.",
  });
  const heapTotal = registry.gauge({
    name: "deno_heap_size_total_bytes",
    help: "V8 heap size in bytes, used and free.",
  });
  const heapUsed = registry.gauge({
    name: "deno_heap_size_used_bytes",
    help: "V8 heap in use in bytes.",
  });
  const external = registry.gauge({
    name: "deno_external_memory_bytes",
    help: "Memory held outside the V8 heap by JavaScript objects (buffers), in bytes.",
  });
  const start = registry.gauge({
    name: "process_start_time_seconds",
    help: "Start time of the process since the Unix epoch in seconds.",
  });
  const cpu = registry.counter({
    name: "process_cpu_seconds_total",
    help: "User and system CPU time spent in seconds.",
  });
  const cpuUser = registry.counter({
    name: "process_cpu_user_seconds_total",
    help: "User CPU time spent in seconds.",
  });
  const cpuSystem = registry.counter({
    name: "process_cpu_system_seconds_total",
    help: "System CPU time spent in seconds.",
  });
  // The runtime's time origin is the moment the process started.
  start.set(Math.round(performance.timeOrigin) / 1000);
  registry.onCollect(() => {
    const memory = Deno.memoryUsage();
    rss.set(memory.rss);
    heapTotal.set(memory.heapTotal);
    heapUsed.set(memory.heapUsed);
    external.set(memory.external);
    const usage = process.cpuUsage(); // microseconds since the process started
    cpuUser.setTotal(usage.user / 1e6);
    cpuSystem.setTotal(usage.system / 1e6);
    cpu.setTotal((usage.user + usage.system) / 1e6);
  });
}
