/**
 * Shadow scoring: a candidate model (model.shadow) scores the events each batch wrote, and
 * its probabilities go to a store of their own. Nothing it does can reach ingestion: every
 * failure is caught, counted, and reported once until the shadow model works again.
 */
import type { PipelineConfig } from "../config/mod.ts";
import { errorText } from "../errors/mod.ts";
import type { EventRecord } from "./_features.ts";
import { type HolderNotices, type ModelHolder, openModelHolder } from "./_holder.ts";

/** One shadow probability of a stored event. */
export interface ShadowScore {
  readonly eventId: string;
  readonly modelVersion: string;
  readonly probability: number;
}

/** Counters of a shadow scorer. */
export interface ShadowStats {
  /** Events whose shadow score was stored. */
  scored: number;
  /** Batches whose shadow scoring or storing failed. */
  failedBatches: number;
  /** Events left without a shadow score (failed batches, or no usable shadow model). */
  unscored: number;
}

export class ShadowScorer {
  readonly stats: ShadowStats = { scored: 0, failedBatches: 0, unscored: 0 };
  #failing = false;

  constructor(
    readonly holder: ModelHolder,
    private readonly store: (scores: readonly ShadowScore[]) => Promise<void>,
    private readonly notices: HolderNotices,
  ) {}

  /** Scores and stores `events` (stored already, each with its event_id); never throws. */
  async score(events: readonly EventRecord[]): Promise<void> {
    if (!events.length) return;
    const lease = this.holder.acquire();
    if (!lease) {
      this.stats.unscored += events.length;
      return;
    }
    try {
      const p = await lease.predict(events);
      await this.store(events.map((event, i) => ({
        eventId: String(event.event_id),
        modelVersion: lease.version,
        probability: p[i],
      })));
      this.stats.scored += events.length;
      if (this.#failing) {
        this.#failing = false;
        this.notices.info(
          `Shadow model ${lease.version} scores again (${this.stats.failedBatches} failed ` +
            `batch(es) so far)`,
        );
      }
    } catch (error) {
      this.stats.failedBatches++;
      this.stats.unscored += events.length;
      if (!this.#failing) {
        this.#failing = true;
        this.notices.warn(
          `Cannot shadow-score a batch with ${lease.version}: ${errorText(error)}; ingestion ` +
            "goes on unaffected (further failures are counted, not logged)",
        );
      }
    } finally {
      lease.release();
    }
  }

  /** One line saying what the shadow model did. */
  summary(): string {
    const s = this.stats;
    return `Shadow model ${this.holder.version ?? "(none usable)"}: ${s.scored} event(s) scored, ` +
      `${s.unscored} unscored, ${s.failedBatches} failed batch(es), ${this.holder.stats.swaps} swap(s)`;
  }

  close(): Promise<void> {
    return this.holder.close();
  }
}

/**
 * The shadow scorer of model.shadow, or undefined when there is none. A shadow file that
 * cannot be used at start is reported, not fatal: the scorer waits for a usable version.
 */
export async function openShadowScorer(
  config: Pick<PipelineConfig, "model" | "events">,
  store: (scores: readonly ShadowScore[]) => Promise<void>,
  notices: HolderNotices,
  options: { watch?: boolean } = {},
): Promise<ShadowScorer | undefined> {
  const spec = config.model.shadow;
  if (!spec) return undefined;
  const holder = await openModelHolder(spec, config.events, notices, {
    watch: options.watch,
    required: false,
    role: "shadow model",
  });
  return new ShadowScorer(holder, store, notices);
}
