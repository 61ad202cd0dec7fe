/** Ids of new KRaft clusters, for the development broker and the secured test broker. */

/** A Kafka cluster id: 16 random bytes in URL-safe base64, as Kafka's own Uuid.randomUuid(). */
export function randomClusterId(): string {
  for (;;) {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    const id = btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_")
      .replace(/=+$/, "");
    // Kafka rejects the all-zero id and avoids a leading "-", which command lines take for a flag.
    if (!id.startsWith("-") && bytes.some((b) => b !== 0)) return id;
  }
}
