-- Key columns become NO PAD ('a1' and 'a1 ' are two keys), the indexes no query or foreign key needs go, and table_predictions gets one foreign key on its event's three keys instead of three. A column in a foreign key cannot change, so every foreign key (table_shadow_predictions' too) is dropped first and added back last. One ALTER per table: each is atomic, so a resumed run skips the ones already done.
ALTER TABLE `table_predictions` DROP FOREIGN KEY `fk_predictions_order`, DROP FOREIGN KEY `fk_predictions_customer`, DROP FOREIGN KEY `fk_predictions_event`;
--> statement-breakpoint
ALTER TABLE `table_shadow_predictions` DROP FOREIGN KEY `fk_shadow_predictions_event`;
--> statement-breakpoint
ALTER TABLE `table_events` DROP FOREIGN KEY `fk_events_order`, DROP FOREIGN KEY `fk_events_customer`;
--> statement-breakpoint
ALTER TABLE `table_orders` DROP FOREIGN KEY `fk_orders_customer`;
--> statement-breakpoint
ALTER TABLE `table_customers` MODIFY COLUMN `customer_customer_id` varchar(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL;
--> statement-breakpoint
ALTER TABLE `table_orders` MODIFY COLUMN `order_id` varchar(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL, MODIFY COLUMN `customer_customer_id` varchar(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL;
--> statement-breakpoint
ALTER TABLE `table_events` DROP INDEX `ix_events_time`, MODIFY COLUMN `event_id` varchar(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL, MODIFY COLUMN `order_id` varchar(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL, MODIFY COLUMN `customer_customer_id` varchar(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL, ADD CONSTRAINT `ux_events_keys` UNIQUE(`event_id`,`order_id`,`customer_customer_id`);
--> statement-breakpoint
ALTER TABLE `table_predictions` DROP INDEX `ix_predictions_order`, DROP INDEX `ix_predictions_customer`, DROP PRIMARY KEY, MODIFY COLUMN `event_id` varchar(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL, MODIFY COLUMN `order_id` varchar(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL, MODIFY COLUMN `customer_customer_id` varchar(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL, ADD PRIMARY KEY(`event_id`,`order_id`,`customer_customer_id`);
--> statement-breakpoint
ALTER TABLE `table_shadow_predictions` MODIFY COLUMN `event_id` varchar(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL;
--> statement-breakpoint
ALTER TABLE `pipeline_rescore_runs` MODIFY COLUMN `last_event_id` varchar(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin;
--> statement-breakpoint
ALTER TABLE `table_orders` ADD CONSTRAINT `fk_orders_customer` FOREIGN KEY (`customer_customer_id`) REFERENCES `table_customers`(`customer_customer_id`) ON DELETE no action ON UPDATE no action;
--> statement-breakpoint
ALTER TABLE `table_events` ADD CONSTRAINT `fk_events_order` FOREIGN KEY (`order_id`) REFERENCES `table_orders`(`order_id`) ON DELETE no action ON UPDATE no action, ADD CONSTRAINT `fk_events_customer` FOREIGN KEY (`customer_customer_id`) REFERENCES `table_customers`(`customer_customer_id`) ON DELETE no action ON UPDATE no action;
--> statement-breakpoint
ALTER TABLE `table_predictions` ADD CONSTRAINT `fk_predictions_event` FOREIGN KEY (`event_id`,`order_id`,`customer_customer_id`) REFERENCES `table_events`(`event_id`,`order_id`,`customer_customer_id`) ON DELETE no action ON UPDATE cascade;
--> statement-breakpoint
ALTER TABLE `table_shadow_predictions` ADD CONSTRAINT `fk_shadow_predictions_event` FOREIGN KEY (`event_id`) REFERENCES `table_events`(`event_id`) ON DELETE no action ON UPDATE no action;
