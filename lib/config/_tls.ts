/**
 * The PEM files that kafka.tls and database.tls name, read when a client is built: a config
 * loads without them (a test or a check on another machine), a client cannot.
 */
import type { TlsConfig } from "./_resolve.ts";

/** PEM texts of a TLS config's files; a missing one is absent. */
export interface TlsFiles {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
}

/** What is wrong with one of the files, and which key fixes it. */
export interface TlsFileProblem {
  readonly problem: string;
  readonly hint: string;
}

/** Reads the PEM files of `tls` (`section`.tls of pipeline.yaml), or says what is wrong. */
export function readTlsFiles(
  tls: TlsConfig,
  section: "kafka" | "database",
): TlsFiles | TlsFileProblem {
  const files: { ca?: string; cert?: string; key?: string } = {};
  const wanted = [
    ["ca", "ca_file", tls.caFile],
    ["cert", "cert_file", tls.certFile],
    ["key", "key_file", tls.keyFile],
  ] as const;
  for (const [name, key, path] of wanted) {
    if (path === undefined) continue;
    const where = `${section}.tls.${key} "${path}"`;
    const hint =
      `fix ${section}.tls.${key} in pipeline.yaml (a relative path starts at its folder)`;
    let text: string;
    try {
      text = Deno.readTextFileSync(path);
    } catch (error) {
      const reason = error instanceof Deno.errors.NotFound ? "file not found" : String(error);
      return { problem: `Cannot read ${where}: ${reason}`, hint };
    }
    if (name !== "key" && !text.includes("-----BEGIN CERTIFICATE-----")) {
      return { problem: `Cannot use ${where}: it holds no PEM certificate`, hint };
    }
    // node:tls would ask for a passphrase that nobody can type into a service.
    const unencryptedKey = /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text) &&
      !/ENCRYPTED/.test(text);
    if (name === "key" && !unencryptedKey) {
      return {
        problem: `Cannot use ${where}: it holds no unencrypted PEM private key`,
        hint: `${hint}; decrypt a key with: openssl pkey -in KEY -out PLAIN_KEY`,
      };
    }
    files[name] = text;
  }
  return files;
}
