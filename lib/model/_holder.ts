/**
 * A model that can be replaced while it scores. A new file at the model's path (seen by a
 * file watch, or asked for with reload()) is loaded and checked against the mapping while the
 * current model keeps scoring; it takes over at the next acquire(), which a consumer calls
 * once per batch, so a batch is scored by one model from its first attempt to its last. A
 * file that fails the check leaves the current model in place and is reported once per
 * version of the file. A replaced model is closed once no batch holds it any more.
 */
import { createHash } from "node:crypto";
import { basename, dirname } from "node:path";
import type { PipelineConfig } from "../config/mod.ts";
import { displayPath, errorText } from "../errors/mod.ts";
import type { EventRecord } from "./_features.ts";
import { cardPathFor, openReturnModel, type ReturnModel } from "./_session.ts";

/** What a holder serves: a model file and the mapping that feeds it (model, model.shadow). */
export type ModelSpec = Pick<PipelineConfig["model"], "path" | "inputs" | "output">;

/** A model held for one batch: score with it, then release it. */
export interface ModelLease {
  readonly version: string;
  predict(events: readonly EventRecord[]): Promise<Float64Array>;
  /** The batch is done with the model (idempotent). */
  release(): void;
}

/** What a holder tells its owner; each message is one line for a person. */
export interface HolderNotices {
  /** A new version passed the check, or took over. */
  readonly info: (message: string) => void;
  /** A file that cannot be used (once per version), or a watch that failed. */
  readonly warn: (message: string) => void;
  /** Told the old and new version at each swap (for metrics). */
  readonly onSwap?: (from: string | undefined, to: string) => void;
}

export interface HolderOptions {
  /** Watch the model's folder for a new file (default false: reload() only). */
  readonly watch?: boolean;
  /** Quiet time after the last file event before the file is read (default 300 ms). */
  readonly settleMs?: number;
  /** What the messages call this model ("model", "shadow model"). */
  readonly role?: string;
}

interface Held {
  readonly model: ReturnModel;
  /** Digest of the model file and its card: what "a version of the file" means here. */
  fileKey: string;
  leases: number;
  retired: boolean;
}

/** Counters of a holder's life. */
export interface HolderStats {
  swaps: number;
  /** File versions refused (each reported once). */
  rejected: number;
}

/**
 * Opens the model of `spec` and holds it. With `required` (the live model) a file that
 * cannot be used at start throws, as loading it always did; without (a shadow model) it is
 * reported and the holder starts empty, taking the first good version that appears.
 */
export async function openModelHolder(
  spec: ModelSpec,
  events: PipelineConfig["events"],
  notices: HolderNotices,
  options: HolderOptions & { readonly required?: boolean } = {},
): Promise<ModelHolder> {
  const holder = new ModelHolder(spec, events, notices, options);
  await holder.start(options.required ?? true);
  if (options.watch) holder.watch();
  return holder;
}

export class ModelHolder {
  readonly stats: HolderStats = { swaps: 0, rejected: 0 };
  readonly #spec: ModelSpec;
  readonly #config: Pick<PipelineConfig, "model" | "events">;
  readonly #notices: HolderNotices;
  readonly #settleMs: number;
  readonly #role: string;
  #active: Held | undefined;
  #pending: Held | undefined;
  /** Keys of file versions refused already: each is reported once. */
  readonly #refused = new Set<string>();
  readonly #closing = new Set<Promise<void>>();
  #reloading: Promise<void> | undefined;
  #again = false;
  #announce = false;
  #watcher: Deno.FsWatcher | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  constructor(
    spec: ModelSpec,
    events: PipelineConfig["events"],
    notices: HolderNotices,
    options: HolderOptions = {},
  ) {
    this.#spec = spec;
    this.#config = { model: spec, events };
    this.#notices = notices;
    this.#settleMs = options.settleMs ?? 300;
    this.#role = options.role ?? "model";
  }

  /** The path watched and read. */
  get path(): string {
    return this.#spec.path;
  }

  /** The version scoring now (undefined while a shadow holder is empty). */
  get version(): string | undefined {
    return this.#active?.model.version;
  }

  /** Loads the file for the first time. */
  async start(required: boolean): Promise<void> {
    const key = await fileKey(this.#spec.path);
    try {
      const model = await openReturnModel(this.#spec.path, this.#config);
      for (const warning of model.warnings) this.#notices.warn(warning);
      this.#active = { model, fileKey: key, leases: 0, retired: false };
    } catch (error) {
      if (required) throw error;
      this.#refused.add(key);
      this.stats.rejected++;
      this.#notices.warn(
        `Cannot use ${this.#role} "${displayPath(this.#spec.path)}": ${reason(error)}; ` +
          `scoring without it until a usable file appears`,
      );
    }
  }

  /**
   * The model for one batch. A version waiting since the last batch takes over here, and
   * only here, so no batch sees two models. Undefined only for an empty shadow holder.
   */
  acquire(): ModelLease | undefined {
    if (this.#pending) this.#promote(this.#pending);
    const held = this.#active;
    if (!held) return undefined;
    held.leases++;
    let released = false;
    return {
      version: held.model.version,
      predict: (events) => held.model.predict(events),
      release: () => {
        if (released) return;
        released = true;
        held.leases--;
        if (held.retired && held.leases === 0) this.#close(held);
      },
    };
  }

  #promote(next: Held): void {
    const previous = this.#active;
    this.#active = next;
    this.#pending = undefined;
    this.stats.swaps++;
    this.#notices.info(
      `Swapped ${this.#role}: ${previous?.model.version ?? "none"} -> ${next.model.version} ` +
        `(from the next batch on)`,
    );
    this.#notices.onSwap?.(previous?.model.version, next.model.version);
    if (previous) {
      previous.retired = true;
      if (previous.leases === 0) this.#close(previous);
    }
  }

  /**
   * Reads the file again: a new version that passes the check waits for the next batch; one
   * that fails is reported (once per version) and changes nothing. Calls made while a reload
   * runs are folded into one more reload after it. With `announce` (someone asked, e.g. by
   * SIGHUP) a file that brings nothing new says so instead of staying silent.
   */
  reload(options: { announce?: boolean } = {}): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (options.announce) this.#announce = true;
    if (this.#reloading) {
      this.#again = true;
      return this.#reloading;
    }
    this.#reloading = (async () => {
      do {
        this.#again = false;
        const announce = this.#announce;
        this.#announce = false;
        // Never rejects: a failed reload leaves the model in place, whoever asked for it.
        await this.#reloadOnce(announce).catch((error) =>
          this.#notices.warn(`Cannot reload ${this.#role}: ${errorText(error)}`)
        );
      } while (this.#again && !this.#closed);
    })().finally(() => this.#reloading = undefined);
    return this.#reloading;
  }

  async #reloadOnce(announce: boolean): Promise<void> {
    const path = this.#spec.path;
    const key = await fileKey(path);
    const keeping = this.#active ? `keeping ${this.#active.model.version}` : "still none";
    const unchanged = (why: string) => {
      if (announce) {
        this.#notices.info(`${capital(this.#role)} "${displayPath(path)}" ${why}; ${keeping}`);
      }
    };
    if (key === this.#active?.fileKey) return unchanged("is the one scoring");
    if (key === this.#pending?.fileKey) return unchanged("is loaded already, for the next batch");
    if (this.#refused.has(key)) return unchanged("was refused already (reported above)");
    if (key === "missing" || key === "unreadable") {
      this.#refuse(key, `Cannot read ${this.#role} "${displayPath(path)}" (${key}); ${keeping}`);
      return;
    }
    let model: ReturnModel;
    try {
      model = await openReturnModel(path, this.#config);
    } catch (error) {
      this.#refuse(
        key,
        `Cannot swap to ${this.#role} "${displayPath(path)}": ${reason(error)}; ${keeping}`,
      );
      return;
    }
    if (this.#closed || model.version === this.#active?.model.version) {
      // The same bytes again (touched, or copied over itself): nothing to swap.
      if (this.#active && !this.#closed) this.#active.fileKey = key;
      await model.close().catch(() => {});
      return;
    }
    for (const warning of model.warnings) this.#notices.warn(warning);
    const replaced = this.#pending;
    this.#pending = { model, fileKey: key, leases: 0, retired: false };
    if (replaced) this.#close(replaced);
    this.#notices.info(
      `Loaded ${this.#role} ${model.version} from "${displayPath(path)}": it fits the mapping ` +
        `and takes over at the next batch`,
    );
  }

  #refuse(key: string, message: string): void {
    this.#refused.add(key);
    this.stats.rejected++;
    this.#notices.warn(message);
  }

  /**
   * Watches the model's folder (not the file: replacing a file by a rename, the safe way to
   * publish one, would end a watch on the file itself) for the model and its card.
   */
  watch(): void {
    if (this.#watcher || this.#closed) return;
    const names = new Set([basename(this.#spec.path), basename(cardPathFor(this.#spec.path))]);
    try {
      this.#watcher = Deno.watchFs(dirname(this.#spec.path), { recursive: false });
    } catch (error) {
      this.#notices.warn(
        `Cannot watch "${displayPath(dirname(this.#spec.path))}" for a new ${this.#role}: ` +
          `${errorText(error)}; send SIGHUP to reload it`,
      );
      return;
    }
    const watcher = this.#watcher;
    (async () => {
      for await (const event of watcher) {
        if (event.paths.some((p) => names.has(basename(p)))) this.#settle();
      }
    })().catch((error) => {
      if (!this.#closed) {
        this.#notices.warn(`The watch of ${this.#role} stopped: ${errorText(error)}`);
      }
    });
  }

  /** A file is often written in several steps: read it once they have stopped. */
  #settle(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.reload();
    }, this.#settleMs);
  }

  #close(held: Held): void {
    const closing = held.model.close().catch((error) =>
      this.#notices.warn(`Cannot close ${this.#role} ${held.model.version}: ${errorText(error)}`)
    ).finally(() => this.#closing.delete(closing));
    this.#closing.add(closing);
  }

  /** Stops watching and closes every model (batches are over by now). */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    try {
      this.#watcher?.close();
    } catch {
      // already closed
    }
    await this.#reloading?.catch(() => {});
    for (const held of [this.#active, this.#pending]) if (held) this.#close(held);
    this.#active = this.#pending = undefined;
    await Promise.all(this.#closing);
  }
}

/**
 * SHA-256 of the model file and of its card (absent card: empty): what tells two versions of
 * the file apart. "missing" or "unreadable" when the file cannot be read.
 */
async function fileKey(path: string): Promise<string> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    return error instanceof Deno.errors.NotFound ? "missing" : "unreadable";
  }
  const hash = createHash("sha256").update(bytes);
  try {
    hash.update("\0card\0").update(await Deno.readFile(cardPathFor(path)));
  } catch (error) {
    // The loader reports a card it cannot read; here it only has to give another key.
    if (!(error instanceof Deno.errors.NotFound)) hash.update("\0unreadable card\0");
  }
  return hash.digest("hex");
}

/** Why a file cannot be used, without the "Cannot use model "path":" its loader starts with. */
function reason(error: unknown): string {
  return errorText(error).replace(/^Cannot use model "[^"]*": /, "");
}

function capital(text: string): string {
  return text[0].toUpperCase() + text.slice(1);
}
