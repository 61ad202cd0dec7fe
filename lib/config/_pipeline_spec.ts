/**
 * The spec of pipeline.yaml: every key, its type, default and description. Longer than the
 * other files on purpose: it is the one declaration of the whole file, from which the
 * validation, the TypeScript type and the README reference all come.
 */
import type { ConfigOf, Fields, Spec } from "./_spec.ts";

const scalar = {
  kind: "union",
  description: "A scalar value.",
  expected: "a string, number or boolean",
  options: [
    { kind: "string", description: "", allowEmpty: true },
    { kind: "number", description: "" },
    { kind: "boolean", description: "" },
  ],
  pick: (raw) =>
    typeof raw === "string"
      ? 0
      : typeof raw === "number"
      ? 1
      : typeof raw === "boolean"
      ? 2
      : undefined,
} as const satisfies Spec;

const fieldSpec = {
  kind: "object",
  description: "How one event field is typed and defaulted.",
  fields: {
    type: {
      kind: "string",
      description: "Value type: string, integer, number, boolean or datetime (ISO 8601).",
      enum: ["string", "integer", "number", "boolean", "datetime"],
    },
    default: {
      ...scalar,
      description:
        "Value used when the field is missing or null (`now` for a datetime means the time of " +
        "consumption). A field without a default must be listed in `events.required`.",
      optional: true,
    },
    min: {
      kind: "number",
      description: "Smallest accepted value (integer, number).",
      optional: true,
    },
    max: {
      kind: "number",
      description: "Largest accepted value (integer, number).",
      optional: true,
    },
    max_length: {
      kind: "integer",
      description: "Longest accepted string, in characters (string).",
      min: 1,
      max: 65535,
      optional: true,
    },
  },
} as const satisfies Spec;

const encodeSpec = {
  kind: "union",
  description:
    "How the field becomes tensor values: `number` (as is), `string` (as is, for string " +
    "tensors), `{ one_hot: [v1, v2, ...] }` (one column per value; others give all zeros) or " +
    "`{ scale: { mean: M, std: S } }` ((x - M) / S).",
  expected: "number, string, { one_hot: [...] } or { scale: { mean, std } }",
  options: [
    { kind: "string", description: "", enum: ["number", "string"] },
    {
      kind: "object",
      description: "",
      fields: {
        one_hot: {
          kind: "list",
          description: "The vocabulary, one column each.",
          of: { kind: "string", description: "" },
          minItems: 1,
        },
      },
    },
    {
      kind: "object",
      description: "",
      fields: {
        scale: {
          kind: "object",
          description: "Standardisation.",
          fields: {
            mean: { kind: "number", description: "Mean subtracted." },
            std: { kind: "number", description: "Divisor (non-zero).", min: 1e-12 },
          },
        },
      },
    },
  ],
  pick: (raw) => {
    if (typeof raw === "string") return 0;
    if (raw && typeof raw === "object" && !Array.isArray(raw)) {
      if ("one_hot" in raw) return 1;
      if ("scale" in raw) return 2;
    }
    return undefined;
  },
} as const satisfies Spec;

/**
 * `tls:` of a client: false, true (trust the system's CAs) or a mapping of settings; `extra`
 * adds settings of one client only.
 */
function tlsSpec<const Extra extends Fields>(server: string, checked: string, extra: Extra) {
  return {
    kind: "union",
    description: `TLS to the ${server}: \`true\` trusts the system's CAs, a mapping sets the ` +
      "keys below; absent or `false`: no TLS.",
    expected: "true, false or a mapping",
    optional: true,
    options: [
      { kind: "boolean", description: "" },
      {
        kind: "object",
        description: "",
        fields: {
          ca_file: {
            kind: "string",
            description: "PEM file of the CA(s) to trust instead of the system's, relative to " +
              "this file.",
            optional: true,
          },
          cert_file: {
            kind: "string",
            description: `PEM client certificate, for a ${server} that asks for one.`,
            optional: true,
          },
          key_file: {
            kind: "string",
            description: "PEM private key (unencrypted) of cert_file.",
            optional: true,
          },
          ...extra,
          reject_unauthorized: {
            kind: "boolean",
            description: `\`true\` checks ${checked}; \`false\` accepts any certificate ` +
              "(tests only).",
            default: true,
          },
        },
      },
    ],
    pick: (raw: unknown) =>
      typeof raw === "boolean"
        ? 0
        : raw && typeof raw === "object" && !Array.isArray(raw)
        ? 1
        : undefined,
  } as const satisfies Spec;
}

/** Where a model's return probability is read (model.output, model.shadow.output). */
const outputSpec = {
  kind: "object",
  description: "Where the return probability is read.",
  fields: {
    name: {
      kind: "string",
      description: "Output holding probabilities: `[N, classes]`, `[N]`, or a ZipMap (its input " +
        "tensor is read).",
    },
    returned_class: {
      kind: "union",
      description: 'Column index (or label) of the class meaning "returned".',
      expected: "an integer or a string",
      options: [
        { kind: "integer", description: "", min: 0 },
        { kind: "string", description: "" },
      ],
      pick: (raw) => typeof raw === "number" ? 0 : typeof raw === "string" ? 1 : undefined,
    },
  },
} as const satisfies Spec;

/** How event fields feed a model's input tensors (model.inputs, model.shadow.inputs). */
const inputsSpec = {
  kind: "list",
  description: "One entry per model input tensor.",
  minItems: 1,
  of: {
    kind: "object",
    description: "",
    fields: {
      name: { kind: "string", description: "Input name in the model." },
      type: {
        kind: "string",
        description: "Element type of the tensor.",
        enum: ["float32", "float64", "int64", "string"],
      },
      features: {
        kind: "list",
        description: "Columns of the `[N, D]` tensor, in order.",
        minItems: 1,
        of: {
          kind: "object",
          description: "",
          fields: {
            field: { kind: "string", description: "Event field." },
            encode: encodeSpec,
            missing: {
              ...scalar,
              description: "Value used when the field is absent (else the field default).",
              optional: true,
            },
          },
        },
      },
    },
  },
} as const satisfies Spec;

/** Spec of the whole file. */
export const pipelineSpec = {
  kind: "object",
  description: "pipeline.yaml",
  fields: {
    kafka: {
      kind: "object",
      description: "The Kafka cluster and topics.",
      fields: {
        brokers: {
          kind: "list",
          description: "Bootstrap servers, `host:port` each.",
          of: { kind: "string", description: "" },
          default: ["127.0.0.1:9092"],
          minItems: 1,
        },
        client_id: {
          kind: "string",
          description: "Client id sent to the broker.",
          default: "order-pipeline",
        },
        topic: {
          kind: "string",
          description: "Topic of the order events.",
          default: "order-events",
        },
        partitions: {
          kind: "integer",
          description: "Partitions of the topic when admin creates it.",
          default: 3,
          min: 1,
          max: 10000,
        },
        replication_factor: {
          kind: "integer",
          description: "Replicas of each partition when admin creates it.",
          default: 1,
          min: 1,
          max: 32,
        },
        consumer_group: {
          kind: "string",
          description: "Consumer group of the consumer.",
          default: "order-pipeline",
        },
        dead_letter_topic: {
          kind: "string",
          description: "Topic for rejected records; empty means `<topic>.dlq`.",
          default: "",
          allowEmpty: true,
        },
        connection_timeout_ms: {
          kind: "integer",
          description: "Time allowed to open a broker connection.",
          default: 3000,
          min: 100,
        },
        request_timeout_ms: {
          kind: "integer",
          description: "Time allowed for one broker request.",
          default: 10000,
          min: 100,
        },
        session_timeout_ms: {
          kind: "integer",
          description: "A consumer silent this long loses its partitions (docs/consumer.md).",
          default: 6000,
          min: 1000,
          max: 300000,
        },
        tls: tlsSpec("broker", "the CA and the broker's name or IP address", {
          server_name: {
            kind: "string",
            description: "Name the broker's certificate carries, if not the kafka.brokers host.",
            optional: true,
          },
        }),
        sasl: {
          kind: "object",
          description: "SASL login; absent: none. Use it with kafka.tls, or the login crosses " +
            "the network readable.",
          optional: true,
          fields: {
            mechanism: {
              kind: "string",
              description: "How the password is checked.",
              enum: ["plain", "scram-sha-256", "scram-sha-512"],
            },
            username: { kind: "string", description: "User name." },
            password: {
              kind: "string",
              description: "Password; write `${VAR}` to keep it out of the file. Never printed.",
              secret: true,
            },
          },
        },
      },
    },
    database: {
      kind: "object",
      description: "The MySQL/MariaDB database.",
      fields: {
        url: {
          kind: "url",
          description:
            "`mysql://user:password@host:port/database`; the database is created if missing.",
          protocols: ["mysql:", "mariadb:"],
          default: "mysql://root@127.0.0.1:3306/order_pipeline",
        },
        pool_size: {
          kind: "integer",
          description: "Connections kept open.",
          default: 4,
          min: 1,
          max: 100,
        },
        read_ahead: {
          kind: "integer",
          description:
            "Extra connections that read the index pages of each slice of a batch before it " +
            "is written, so that the disk has several reads in flight (0: off). Worth it only " +
            "once the tables are a few times the server's buffer pool: measured here +18 to " +
            "+39 % there with 8, -30 to -40 % while the tables fit in memory, nothing at six " +
            "times (docs/database.md).",
          default: 0,
          min: 0,
          max: 32,
        },
        key_type: {
          kind: "string",
          description:
            "How event_id, order_id and customer_customer_id are stored: `text` (any id, up " +
            "to 64 characters) or `uuid` (MariaDB 10.7+ only; every id must be a UUID, others " +
            "go to the dead-letter topic, and are stored and printed in lower case; smaller " +
            "tables, see docs/database.md). Changing it converts the stored tables in place " +
            "at the next start.",
          enum: ["text", "uuid"],
          default: "text",
        },
        tls: tlsSpec(
          "database server",
          "the CA, and the host name unless database.url has an IP address",
          {},
        ),
      },
    },
    producer: {
      kind: "object",
      description: "What `deno task produce` sends.",
      fields: {
        file: {
          kind: "string",
          description: "JSON-Lines input, relative to this file.",
          default: "data/sample_events.jsonl",
        },
        batch_size: {
          kind: "integer",
          description: "Messages per send request.",
          default: 500,
          min: 1,
          max: 100000,
        },
        compression: {
          kind: "string",
          description: "Batch compression. On JSON events zstd shrinks batches 5.5 times, " +
            "faster than gzip (5 times); lz4 and snappy 3 times, lz4 with the least CPU. Other " +
            "kafkajs consumers need codec plugins for snappy, lz4 and zstd.",
          enum: ["none", "gzip", "snappy", "lz4", "zstd"],
          default: "gzip",
        },
        acks: {
          kind: "string",
          description: "`all` waits for every in-sync replica, `leader` for the leader only.",
          enum: ["all", "leader"],
          default: "all",
        },
      },
    },
    consumer: {
      kind: "object",
      description: "How `deno task consume` ingests.",
      fields: {
        duplicates: {
          kind: "string",
          description:
            "An event_id seen before: `skip` keeps the stored version, `update` overwrites it.",
          enum: ["skip", "update"],
          default: "skip",
        },
        log_events: {
          kind: "boolean",
          description: "One log line per event ([OK], [SKIP], [DLQ]).",
          default: true,
        },
        summary_interval_ms: {
          kind: "integer",
          description: "Period of the summary line; 0 turns it off.",
          default: 5000,
          min: 0,
        },
        quiet_backlog: {
          kind: "integer",
          description:
            "Per-event lines pause while the backlog is larger than this; 0 never pauses them.",
          default: 10000,
          min: 0,
        },
        log_format: {
          kind: "string",
          description: "`text` for people, `json` for one JSON object per line (log collectors).",
          enum: ["text", "json"],
          default: "text",
        },
        http: {
          kind: "object",
          description: "Serves /metrics, /healthz and /readyz when set (off by default).",
          optional: true,
          fields: {
            host: {
              kind: "string",
              description: "Address to listen on.",
              default: "127.0.0.1",
            },
            port: {
              kind: "integer",
              description: "Port to listen on; 0 picks a free one (printed at start).",
              min: 0,
              max: 65535,
            },
          },
        },
        max_message_bytes: {
          kind: "integer",
          description: "Larger messages are dead-lettered.",
          default: 65536,
          min: 64,
        },
        max_depth: {
          kind: "integer",
          description: "Deeper JSON nesting is dead-lettered.",
          default: 8,
          min: 1,
          max: 64,
        },
        partitions_consumed_concurrently: {
          kind: "integer",
          description: "Partitions processed in parallel by one consumer.",
          default: 1,
          min: 1,
          max: 64,
        },
        max_fetch_bytes: {
          kind: "integer",
          description:
            "Compressed bytes fetched per partition at a time: bounds a batch (about 4,800 " +
            "gzip'ed events per 512 KiB) and so the consumer's memory.",
          default: 524288,
          min: 1024,
          max: 104857600,
        },
      },
    },
    events: {
      kind: "object",
      description: "The shape of an order event.",
      fields: {
        required: {
          kind: "list",
          description: "Keys every event must have; others get their default.",
          of: { kind: "string", description: "" },
          default: ["event_id", "order_id", "customer_customer_id"],
          minItems: 1,
        },
        fields: {
          kind: "map",
          description: "Every known field: `{ type, default, min, max, max_length }`.",
          of: fieldSpec,
          key: /^[a-z][a-z0-9_]*$/,
        },
      },
    },
    model: {
      kind: "object",
      description: "The ONNX model and how event fields feed it.",
      fields: {
        path: {
          kind: "string",
          description: "The .onnx file, relative to this file.",
          default: "models/return_model.onnx",
        },
        output: outputSpec,
        inputs: inputsSpec,
        shadow: {
          kind: "object",
          description:
            "Optional candidate model scored on every batch beside the live one and stored in " +
            "table_shadow_predictions only (docs/model.md): same keys as `model`.",
          optional: true,
          fields: {
            path: { kind: "string", description: "The .onnx file, relative to this file." },
            output: outputSpec,
            inputs: inputsSpec,
          },
        },
      },
    },
  },
} as const satisfies Spec;

/** The loaded pipeline.yaml, as the spec declares it (before paths and topics are resolved). */
export type SpecConfig = ConfigOf<typeof pipelineSpec>;
