ALTER TABLE `table_events` ADD `extra_fields` json;--> statement-breakpoint
-- Keep what stored events carried beyond their columns before payload goes (re-runnable).
UPDATE `table_events` SET `extra_fields` = JSON_REMOVE(`payload`, '$.event_id', '$.event_time', '$.order_id', '$.customer_customer_id', '$.customer_country', '$.order_device', '$.order_channel', '$.order_main_category', '$.order_n_items', '$.order_basket_value', '$.order_shipping_fee', '$.order_discount', '$.order_order_total', '$.order_is_returned') WHERE `extra_fields` IS NULL;--> statement-breakpoint
UPDATE `table_events` SET `extra_fields` = NULL WHERE JSON_LENGTH(`extra_fields`) = 0;--> statement-breakpoint
ALTER TABLE `table_events` DROP COLUMN `payload`;
