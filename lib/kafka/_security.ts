/**
 * kafka.tls and kafka.sasl as kafkajs options, and what a TLS or SASL failure means: which
 * mistake it is and which key of pipeline.yaml fixes it, with the password never shown.
 */
import type { KafkaConfig, SASLOptions } from "kafkajs";
import { type PipelineConfig, readTlsFiles } from "../config/mod.ts";
import { errorChain, UserError } from "../errors/mod.ts";

type KafkaSettings = PipelineConfig["kafka"];

/** kafkajs' `ssl`: node:tls options from kafka.tls (undefined: plaintext). */
export function tlsOptions(settings: KafkaSettings): KafkaConfig["ssl"] {
  const { tls } = settings;
  if (!tls) return undefined;
  const files = readTlsFiles(tls, "kafka");
  if ("problem" in files) throw new UserError(files.problem, { hint: files.hint });
  return {
    // Without a CA file node:tls trusts its built-in CAs.
    ca: files.ca === undefined ? undefined : [files.ca],
    cert: files.cert,
    key: files.key,
    servername: tls.serverName,
    rejectUnauthorized: tls.rejectUnauthorized,
  };
}

/** kafkajs' `sasl` from kafka.sasl (undefined: no login). */
export function saslOptions(settings: KafkaSettings): SASLOptions | undefined {
  const { sasl } = settings;
  // A copy: kafkajs may keep and change what it is given; the config is frozen.
  return sasl && { ...sasl } as SASLOptions;
}

/** Node's codes for a server certificate that its CAs do not vouch for. */
const UNTRUSTED_CERTIFICATE = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_UNTRUSTED",
  "CERT_SIGNATURE_FAILURE",
  "CERT_HAS_EXPIRED",
]);

/**
 * What a TLS or SASL failure means and how to fix it; undefined for any other failure. Such a
 * failure comes back alike on every retry.
 */
export function securityProblem(settings: KafkaSettings, error: unknown): string | undefined {
  const chain = errorChain(error) as { name?: unknown; code?: unknown; message?: unknown }[];
  const text = chain.map((e) => String(e.message ?? "")).join(" ");
  const code = chain.map((e) => e.code).find((c): c is string => typeof c === "string") ?? "";
  // node:tls' own words, without kafkajs' "Connection error: " in front.
  const said = String(chain.at(-1)?.message ?? "").replace(/^Connection error: /, "");
  const { tls, sasl } = settings;
  if (sasl && chain.some((e) => e.name === "KafkaJSSASLAuthenticationError")) {
    const mechanism = sasl.mechanism.toUpperCase();
    if (/not supported by the server/.test(text)) {
      return `the listener does not offer SASL ${mechanism} (set kafka.sasl.mechanism to one ` +
        "it enables: plain, scram-sha-256 or scram-sha-512)";
    }
    return `the broker rejected the login of user "${sasl.username}" with ${mechanism} (check ` +
      "kafka.sasl.username and kafka.sasl.password, and that the user exists for " +
      `${mechanism})`;
  }
  if (UNTRUSTED_CERTIFICATE.has(code)) {
    const fix = tls?.caFile === undefined
      ? "set kafka.tls.ca_file to the CA that signed it"
      : `kafka.tls.ca_file must be the CA that signed it, not ${tls.caFile}`;
    return `the broker's certificate is not trusted: ${said} (${fix})`;
  }
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID") {
    return `the broker's certificate is not for this address: ${said} (connect by a name ` +
      "the certificate carries, or set kafka.tls.server_name to one)";
  }
  if (/^ERR_SSL_.*ALERT/.test(code)) {
    return `the broker refused the TLS handshake: ${said} (it probably wants a client ` +
      "certificate signed by a CA it trusts: set kafka.tls.cert_file and kafka.tls.key_file)";
  }
  if (tls && /before secure TLS connection|wrong version number/i.test(text)) {
    return `the TLS handshake failed: ${said} (the port does not seem to speak TLS: use the ` +
      "broker's SSL or SASL_SSL listener, or remove kafka.tls)";
  }
  if (/Closed connection|Connection closed/i.test(text)) {
    // A TLS or SASL listener closes a connection that does not speak its protocol.
    if (!tls) {
      return "the broker closed the connection at once (the listener probably wants TLS: " +
        "set kafka.tls, and kafka.sasl if it wants a login)";
    }
    if (!sasl) {
      return "the broker closed the connection after the TLS handshake (the listener " +
        "probably wants a SASL login: set kafka.sasl)";
    }
  }
  return undefined;
}

/** The text with the SASL password, should it ever appear, replaced by ****. */
export function maskPassword(settings: KafkaSettings, text: string): string {
  const password = settings.sasl?.password;
  return password ? text.replaceAll(password, "****") : text;
}
