/** Events shared by tests. */
import { type OrderEvent, orderEvent, type ValidEvent } from "../lib/events/mod.ts";

/** The recommended event of the guide's §7, as a producer sends it. */
export const guideEvent = Object.freeze({
  event_id: "e1",
  event_time: "2026-02-02T10:00:00Z",
  order_id: "o1",
  customer_customer_id: "c1",
  customer_country: "FR",
  order_device: "mobile",
  order_channel: "web",
  order_main_category: "fashion",
  order_n_items: 3,
  order_basket_value: 120.0,
  order_shipping_fee: 5.0,
  order_discount: 10.0,
  order_order_total: 115.0,
  order_is_returned: false,
});

/** The guide's event once validated, with its own ids derived from `id`. */
export function validEvent(
  id: string,
  overrides: Record<string, ValidEvent[string]> = {},
): ValidEvent {
  return {
    ...guideEvent,
    event_id: id,
    event_time: new Date(guideEvent.event_time),
    order_id: `o-${id}`,
    customer_customer_id: `c-${id}`,
    ...overrides,
  };
}

/** A validated field record as the tables store it, built as validation builds it. */
export function orderOf(features: ValidEvent): OrderEvent {
  const built = orderEvent(features, new Date());
  if (!built.ok) throw new Error(`Cannot store test event: ${built.reason} (${built.field})`);
  return built.event;
}
