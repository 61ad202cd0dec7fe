# The consumer as a container: `docker build -t order-pipeline .`, or compose.yaml's
# `consumer` service (`docker compose --profile consumer up -d`). See docs/operations.md.
# Deno comes from its npm package, as on the machines this project is built and tested on;
# bookworm (glibc) because onnxruntime-node's binaries need it.
FROM node:22-bookworm-slim

RUN npm install -g deno@2.9.6 && deno --version

# The image's unprivileged user owns the application and Deno's cache.
WORKDIR /app
RUN chown node:node /app
USER node
ENV DENO_DIR=/app/.deno \
    DENO_NO_UPDATE_CHECK=1 \
    PIPELINE_CONFIG=/app/deploy/pipeline.yaml

# Dependencies first, exactly as deno.lock pins them: this layer is rebuilt only when
# deno.json or deno.lock change.
COPY --chown=node:node deno.json deno.lock ./
RUN deno install --frozen

COPY --chown=node:node . .
# Resolve the entry points' module graphs at build time rather than at each start.
RUN deno cache --frozen consumer.ts admin.ts tasks/readyz.ts

# consumer.http in deploy/pipeline.yaml: /metrics, /healthz, /readyz.
EXPOSE 9464
# Ready: joined the consumer group, and the database and the broker answer.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["deno", "task", "readyz"]
# `deno task` forwards SIGTERM to the consumer, which finishes its batch in flight and exits 0.
CMD ["deno", "task", "consume"]
