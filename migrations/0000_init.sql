CREATE TABLE `table_customers` (
	`customer_customer_id` varchar(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
	`customer_country` varchar(64) NOT NULL DEFAULT 'unknown',
	`updated_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	CONSTRAINT `table_customers_customer_customer_id` PRIMARY KEY(`customer_customer_id`)
);
--> statement-breakpoint
CREATE TABLE `table_events` (
	`event_id` varchar(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
	`event_time` datetime(3) NOT NULL,
	`order_id` varchar(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
	`customer_customer_id` varchar(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
	`payload` json NOT NULL,
	`source_topic` varchar(249),
	`source_partition` int,
	`source_offset` bigint,
	`ingested_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	CONSTRAINT `table_events_event_id` PRIMARY KEY(`event_id`)
);
--> statement-breakpoint
CREATE TABLE `table_orders` (
	`order_id` varchar(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
	`customer_customer_id` varchar(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
	`order_device` varchar(64) NOT NULL DEFAULT 'unknown',
	`order_channel` varchar(64) NOT NULL DEFAULT 'unknown',
	`order_main_category` varchar(64) NOT NULL DEFAULT 'unknown',
	`order_n_items` int NOT NULL DEFAULT 0,
	`order_basket_value` decimal(12,2) NOT NULL DEFAULT '0.00',
	`order_shipping_fee` decimal(12,2) NOT NULL DEFAULT '0.00',
	`order_discount` decimal(12,2) NOT NULL DEFAULT '0.00',
	`order_order_total` decimal(12,2) NOT NULL DEFAULT '0.00',
	`order_is_returned` boolean NOT NULL DEFAULT false,
	`updated_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	CONSTRAINT `table_orders_order_id` PRIMARY KEY(`order_id`)
);
--> statement-breakpoint
CREATE TABLE `pipeline_offsets` (
	`consumer_group` varchar(255) NOT NULL,
	`topic` varchar(249) NOT NULL,
	`partition_id` int NOT NULL,
	`next_offset` bigint NOT NULL,
	`updated_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	CONSTRAINT `pk_pipeline_offsets` PRIMARY KEY(`consumer_group`,`topic`,`partition_id`)
);
--> statement-breakpoint
CREATE TABLE `table_predictions` (
	`event_id` varchar(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
	`order_id` varchar(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
	`customer_customer_id` varchar(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
	`return_proba` double NOT NULL,
	`model_version` varchar(128) NOT NULL,
	`predicted_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	CONSTRAINT `table_predictions_event_id` PRIMARY KEY(`event_id`)
);
--> statement-breakpoint
ALTER TABLE `table_events` ADD CONSTRAINT `fk_events_order` FOREIGN KEY (`order_id`) REFERENCES `table_orders`(`order_id`) ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE `table_events` ADD CONSTRAINT `fk_events_customer` FOREIGN KEY (`customer_customer_id`) REFERENCES `table_customers`(`customer_customer_id`) ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE `table_orders` ADD CONSTRAINT `fk_orders_customer` FOREIGN KEY (`customer_customer_id`) REFERENCES `table_customers`(`customer_customer_id`) ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE `table_predictions` ADD CONSTRAINT `fk_predictions_event` FOREIGN KEY (`event_id`) REFERENCES `table_events`(`event_id`) ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE `table_predictions` ADD CONSTRAINT `fk_predictions_order` FOREIGN KEY (`order_id`) REFERENCES `table_orders`(`order_id`) ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE `table_predictions` ADD CONSTRAINT `fk_predictions_customer` FOREIGN KEY (`customer_customer_id`) REFERENCES `table_customers`(`customer_customer_id`) ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX `ix_events_order` ON `table_events` (`order_id`);--> statement-breakpoint
CREATE INDEX `ix_events_customer` ON `table_events` (`customer_customer_id`);--> statement-breakpoint
CREATE INDEX `ix_events_time` ON `table_events` (`event_time`);--> statement-breakpoint
CREATE INDEX `ix_orders_customer` ON `table_orders` (`customer_customer_id`);--> statement-breakpoint
CREATE INDEX `ix_predictions_order` ON `table_predictions` (`order_id`);--> statement-breakpoint
CREATE INDEX `ix_predictions_customer` ON `table_predictions` (`customer_customer_id`);