/**
 * Kafka's own command-line tools, run with Java from the jars dev/services fetches: the
 * independent client that tests check the pipeline's Kafka side against. Nothing here uses
 * the project's Kafka code, on purpose. Each call starts a JVM (about a second), so every
 * method takes several topics or records at once.
 */
import { join } from "node:path";
import { kafkaLibs } from "../services/mod.ts";

const logConfig = join(import.meta.dirname!, "kafka_tools_log4j2.properties");

/** One record as Kafka's console consumer printed it. */
export interface ToolRecord {
  readonly partition: number;
  readonly offset: bigint;
  /** CreateTime (or LogAppendTime) in milliseconds since the epoch. */
  readonly timestamp: number;
  readonly key: string | null;
  /** UTF-8 text (bytes that are not UTF-8 become U+FFFD); null for a null value. */
  readonly value: string | null;
  readonly headers: Readonly<Record<string, string>>;
}

/** One node of the cluster as Kafka's cluster tool lists it. */
export interface ToolEndpoint {
  readonly id: number;
  readonly host: string;
  readonly port: number;
  /** "broker" or "controller". */
  readonly type: string;
}

/** A regular expression (Java's syntax) that matches exactly these topic names. */
function topicsPattern(topics: readonly string[]): string {
  return topics.map((t) => t.replace(/[\\^$.|?*+()[\]{}]/g, "\\$&")).join("|");
}

/** Java's Utils.murmur2: Kafka's default partitioner puts a keyed record where it says. */
export function murmur2(data: Uint8Array): number {
  const m = 0x5bd1e995;
  let h = 0x9747b28c ^ data.length;
  const whole = data.length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k = data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  const rest = data.length & 3;
  if (rest >= 3) h ^= data[whole + 2] << 16;
  if (rest >= 2) h ^= data[whole + 1] << 8;
  if (rest >= 1) h = Math.imul(h ^ data[whole], m);
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

/** The partition Kafka's default partitioner picks for a string key. */
export function partitionOfKey(key: string, partitions: number): number {
  return (murmur2(new TextEncoder().encode(key)) & 0x7fffffff) % partitions;
}

/** Kafka's command-line tools against one cluster. */
export class KafkaTools {
  constructor(readonly bootstrap = "127.0.0.1:9092") {}

  /** Runs one tool class; returns its stdout, or throws with its stderr when it fails. */
  async run(mainClass: string, args: string[], stdin?: string): Promise<string> {
    const libs = await kafkaLibs();
    const child = new Deno.Command("java", {
      // A short-lived client: quick start matters more than peak speed.
      args: [
        "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1",
        `-Dlog4j2.configurationFile=${logConfig}`,
        "-cp",
        `${libs}/*`,
        mainClass,
        ...args,
      ],
      stdin: stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    if (stdin !== undefined) {
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(stdin));
      await writer.close();
    }
    const output = await child.output();
    const decoder = new TextDecoder();
    if (!output.success) {
      throw new Error(
        `Cannot run ${mainClass.split(".").pop()} ${args.join(" ")}: exit code ${output.code}: ` +
          `${decoder.decode(output.stderr).trim() || decoder.decode(output.stdout).trim()}`,
      );
    }
    return decoder.decode(output.stdout);
  }

  /** Topic names the broker lists (internal ones included), sorted. */
  async topicNames(): Promise<string[]> {
    const text = await this.run("org.apache.kafka.tools.TopicCommand", [
      "--bootstrap-server",
      this.bootstrap,
      "--list",
    ]);
    return text.split("\n").map((l) => l.trim()).filter(Boolean).sort();
  }

  /** Creates a topic with topic-level configs such as `{ "max.message.bytes": "200000" }`. */
  async createTopic(
    topic: string,
    partitions: number,
    configs: Readonly<Record<string, string>> = {},
  ): Promise<void> {
    await this.run("org.apache.kafka.tools.TopicCommand", [
      "--bootstrap-server",
      this.bootstrap,
      "--create",
      "--topic",
      topic,
      "--partitions",
      String(partitions),
      ...Object.entries(configs).flatMap(([name, value]) => ["--config", `${name}=${value}`]),
    ]);
  }

  /** Deletes the topics that exist of these; deletion completes asynchronously. */
  async deleteTopics(topics: readonly string[]): Promise<void> {
    await this.run("org.apache.kafka.tools.TopicCommand", [
      "--bootstrap-server",
      this.bootstrap,
      "--delete",
      "--if-exists",
      "--topic",
      topicsPattern(topics),
    ]);
  }

  /** Partition count of each topic; 0 for a topic the broker does not know. */
  async partitionCounts(topics: readonly string[]): Promise<Map<string, number>> {
    const counts = new Map(topics.map((t) => [t, 0]));
    const text = await this.run("org.apache.kafka.tools.TopicCommand", [
      "--bootstrap-server",
      this.bootstrap,
      "--describe",
      "--if-exists",
      "--topic",
      topicsPattern(topics),
    ]);
    for (const match of text.matchAll(/^Topic: (\S+)\t.*\bPartitionCount: (\d+)/gm)) {
      if (counts.has(match[1])) counts.set(match[1], Number(match[2]));
    }
    return counts;
  }

  /** Partition count of a topic; 0 when the broker does not know it. */
  async partitionCount(topic: string): Promise<number> {
    return (await this.partitionCounts([topic])).get(topic)!;
  }

  /** End offsets (high watermarks) per partition; a topic the broker does not know has none. */
  endOffsets(topics: readonly string[]): Promise<Map<string, Map<number, bigint>>> {
    return this.#offsets(topics, "-1");
  }

  /** First offsets (low watermarks) per partition; a topic the broker does not know has none. */
  startOffsets(topics: readonly string[]): Promise<Map<string, Map<number, bigint>>> {
    return this.#offsets(topics, "-2");
  }

  async #offsets(
    topics: readonly string[],
    time: "-1" | "-2",
  ): Promise<Map<string, Map<number, bigint>>> {
    const result = new Map(topics.map((t) => [t, new Map<number, bigint>()]));
    let text: string;
    try {
      text = await this.run("org.apache.kafka.tools.GetOffsetShell", [
        "--bootstrap-server",
        this.bootstrap,
        "--topic-partitions",
        topics.map((t) => topicsPattern([t])).join(","),
        "--time",
        time,
      ]);
    } catch (error) {
      if (/Could not match any topic-partitions/.test(String(error))) return result;
      throw error;
    }
    for (const match of text.matchAll(/^(.+):(\d+):(\d+)$/gm)) {
      result.get(match[1])?.set(Number(match[2]), BigInt(match[3]));
    }
    return result;
  }

  /** Sum of the high watermarks of a topic's partitions (0 for an unknown topic). */
  async highWatermark(topic: string): Promise<bigint> {
    const ends = (await this.endOffsets([topic])).get(topic)!;
    return [...ends.values()].reduce((sum, offset) => sum + offset, 0n);
  }

  /**
   * Sends lines as records with the console producer (acks=all), without a key, or with a
   * key chosen so that Kafka's default partitioner puts every record on `partition` (of
   * `partitions`), the console producer having no partition option.
   */
  async produce(
    topic: string,
    values: readonly string[],
    target?: { partition: number; partitions: number },
  ): Promise<void> {
    for (const value of values) {
      if (/[\n\r]/.test(value)) throw new Error(`Cannot send ${JSON.stringify(value)}: one line`);
    }
    let input: string;
    const args = ["--bootstrap-server", this.bootstrap, "--topic", topic];
    if (target) {
      const keys: string[] = [];
      for (let n = 0; keys.length < values.length; n++) {
        const key = `p${target.partition}-${n}`;
        if (partitionOfKey(key, target.partitions) === target.partition) keys.push(key);
      }
      input = values.map((v, i) => `${keys[i]}\t${v}\n`).join("");
      args.push("--property", "parse.key=true");
    } else {
      input = values.map((v) => `${v}\n`).join("");
    }
    await this.run("org.apache.kafka.tools.ConsoleProducer", args, input);
  }

  /** Every record of a topic, from the beginning to the end offsets of the moment. */
  async read(topic: string): Promise<ToolRecord[]> {
    const ends = (await this.endOffsets([topic])).get(topic)!;
    const upTo = [...ends.values()].reduce((sum, offset) => sum + offset, 0n);
    if (upTo === 0n) return [];
    // Separators no payload contains.
    const token = crypto.randomUUID().slice(0, 8);
    const field = `<f${token}>`;
    const line = `<r${token}>`;
    const header = `<h${token}>`;
    const nothing = `<n${token}>`;
    const text = await this.run("org.apache.kafka.tools.consumer.ConsoleConsumer", [
      "--bootstrap-server",
      this.bootstrap,
      "--topic",
      topic,
      "--from-beginning",
      // At most the sum of the end offsets (all when no record was deleted); the timeout ends
      // the read when earlier records are gone.
      "--max-messages",
      String(upTo),
      "--timeout-ms",
      "20000",
      ...[
        "print.timestamp=true",
        "print.partition=true",
        "print.offset=true",
        "print.headers=true",
        "print.key=true",
        "print.value=true",
        `key.separator=${field}`,
        `line.separator=${line}`,
        `headers.separator=${header}`,
        `null.literal=${nothing}`,
      ].flatMap((p) => ["--property", p]),
    ]);
    const records = text.split(line).slice(0, -1).map((entry) => {
      const [timestamp, partition, offset, headerText, key, ...value] = entry.split(field);
      const headers: Record<string, string> = {};
      if (headerText !== "NO_HEADERS") {
        for (const pair of headerText.split(header)) {
          const colon = pair.indexOf(":");
          headers[pair.slice(0, colon)] = pair.slice(colon + 1);
        }
      }
      return {
        partition: Number(partition.replace("Partition:", "")),
        offset: BigInt(offset.replace("Offset:", "")),
        timestamp: Number(timestamp.replace(/^\w+:/, "")),
        key: key === nothing ? null : key,
        value: value.join(field) === nothing ? null : value.join(field),
        headers,
      };
    });
    const short = [...ends].filter(([partition, end]) =>
      end > 0n && records.filter((r) => r.partition === partition).at(-1)?.offset !== end - 1n
    );
    // Only a partition whose records were all deleted (retention) may come back empty.
    const starts = short.length ? (await this.startOffsets([topic])).get(topic)! : new Map();
    for (const [partition, end] of short) {
      if (starts.get(partition) !== end) {
        const last = records.filter((r) => r.partition === partition).at(-1);
        throw new Error(
          `Cannot read topic "${topic}": partition ${partition} ends at ${end}, the console ` +
            `consumer stopped at ${last?.offset ?? "nothing"}`,
        );
      }
    }
    return records.filter((r) => r.offset < (ends.get(r.partition) ?? 0n))
      .sort((a, b) => a.partition - b.partition || Number(a.offset - b.offset));
  }

  /** Deletes a partition's records below `offset`, as retention does: the log starts there. */
  async deleteRecords(topic: string, partition: number, offset: bigint): Promise<void> {
    const file = await Deno.makeTempFile({ suffix: ".json" });
    try {
      await Deno.writeTextFile(
        file,
        JSON.stringify({ partitions: [{ topic, partition, offset: Number(offset) }], version: 1 }),
      );
      await this.run("org.apache.kafka.tools.DeleteRecordsCommand", [
        "--bootstrap-server",
        this.bootstrap,
        "--offset-json-file",
        file,
      ]);
    } finally {
      await Deno.remove(file).catch(() => {});
    }
  }

  /** Commits `offset` for a consumer group without members on one partition of a topic. */
  async setGroupOffset(
    group: string,
    topic: string,
    partition: number,
    offset: bigint,
  ): Promise<void> {
    await this.run("org.apache.kafka.tools.consumer.group.ConsumerGroupCommand", [
      "--bootstrap-server",
      this.bootstrap,
      "--group",
      group,
      "--reset-offsets",
      "--topic",
      `${topic}:${partition}`,
      "--to-offset",
      String(offset),
      "--execute",
    ]);
  }

  /**
   * The brokers the cluster lists, or with `controller` ("host:port" of a controller) the
   * controllers the quorum lists.
   */
  async endpoints(controller?: string): Promise<ToolEndpoint[]> {
    const text = await this.run(
      "org.apache.kafka.tools.ClusterTool",
      controller === undefined
        ? ["list-endpoints", "--bootstrap-server", this.bootstrap]
        : ["list-endpoints", "--bootstrap-controller", controller],
    );
    return text.split("\n").slice(1).map((l) => l.trim().split(/\s+/)).filter((c) => c.length > 3)
      .map((c) => ({ id: Number(c[0]), host: c[1], port: Number(c[2]), type: c.at(-1)! }));
  }
}
