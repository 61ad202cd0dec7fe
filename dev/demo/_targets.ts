/**
 * What a demo run may touch. By default only names of its own, derived from pipeline.yaml's
 * (`<topic>_demo`, `<consumer_group>_demo`, `<database>_demo`), so that a demo on a shared
 * cluster or server never resets, empties or deletes anything somebody else uses.
 */
import { maskUrl, type PipelineConfig } from "../../lib/config/mod.ts";
import { UserError } from "../../lib/errors/mod.ts";
import { parseDatabaseUrl } from "../../lib/db/mod.ts";

/** Suffix of every name the demo owns. */
export const DEMO_SUFFIX = "_demo";

/** The topics, group and database of one demo run. */
export interface DemoTargets {
  readonly topic: string;
  readonly deadLetterTopic: string;
  readonly group: string;
  /** database.url with the demo's database in it (query and credentials kept). */
  readonly databaseUrl: string;
  /** The database name alone. */
  readonly database: string;
  /** True for the demo's own names, false for pipeline.yaml's (--use-configured). */
  readonly owned: boolean;
}

/** The demo's own names, or with `useConfigured` those of pipeline.yaml. */
export function demoTargets(config: PipelineConfig, useConfigured = false): DemoTargets {
  const { topic, deadLetterTopic, consumerGroup } = config.kafka;
  const configured = parseDatabaseUrl(config.database.url);
  if (useConfigured) {
    return {
      topic,
      deadLetterTopic,
      group: consumerGroup,
      databaseUrl: config.database.url,
      database: configured.database,
      owned: false,
    };
  }
  const database = `${configured.database}${DEMO_SUFFIX}`;
  if (database.length > 64) {
    throw new UserError(
      `Cannot name the demo's database "${database}": longer than MySQL's 64 characters`,
      { hint: "shorten the database name in database.url, or pass --use-configured" },
    );
  }
  const url = new URL(config.database.url);
  url.pathname = `/${database}`;
  const demoTopic = `${topic}${DEMO_SUFFIX}`;
  return {
    topic: demoTopic,
    // An empty kafka.dead_letter_topic means "<topic>.dlq": follow the demo's topic then.
    deadLetterTopic: deadLetterTopic === `${topic}.dlq`
      ? `${demoTopic}.dlq`
      : `${deadLetterTopic}${DEMO_SUFFIX}`,
    group: `${consumerGroup}${DEMO_SUFFIX}`,
    databaseUrl: url.toString(),
    database,
    owned: true,
  };
}

/** The config the demo's consumer and producer run with: pipeline.yaml's, on the targets. */
export function demoConfig(config: PipelineConfig, targets: DemoTargets): PipelineConfig {
  return Object.freeze({
    ...config,
    kafka: Object.freeze({
      ...config.kafka,
      topic: targets.topic,
      deadLetterTopic: targets.deadLetterTopic,
      consumerGroup: targets.group,
    }),
    database: Object.freeze({ ...config.database, url: targets.databaseUrl }),
    // A consumer of pipeline.yaml's may serve on consumer.http already: the demo does not.
    consumer: Object.freeze({ ...config.consumer, http: undefined }),
  });
}

/** One line per name, for the start of the run. */
export function describeTargets(targets: DemoTargets): string[] {
  const whose = targets.owned ? "its own" : "pipeline.yaml's (--use-configured)";
  return [
    `uses ${whose} topic "${targets.topic}", dead-letter topic "${targets.deadLetterTopic}", ` +
    `group "${targets.group}" and database ${maskUrl(targets.databaseUrl)}`,
    targets.owned
      ? "empties and deletes only these; pipeline.yaml's topic, group and database stay as they are"
      : `resets topic "${targets.topic}" and, without --keep-data, empties database ` +
        `"${targets.database}"; group "${targets.group}" is never deleted`,
  ];
}
