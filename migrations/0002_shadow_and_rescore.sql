CREATE TABLE `pipeline_rescore_runs` (
	`run_id` varchar(64) NOT NULL,
	`model_version` varchar(128) NOT NULL,
	`since` datetime(3),
	`until` datetime(3),
	`last_event_id` varchar(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
	`scored` bigint NOT NULL DEFAULT 0,
	`changed` bigint NOT NULL DEFAULT 0,
	`unscorable` bigint NOT NULL DEFAULT 0,
	`started_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	`updated_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	`finished_at` datetime(3),
	CONSTRAINT `pipeline_rescore_runs_run_id` PRIMARY KEY(`run_id`)
);
--> statement-breakpoint
CREATE TABLE `table_shadow_predictions` (
	`event_id` varchar(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
	`shadow_model_version` varchar(128) NOT NULL,
	`return_proba` double NOT NULL,
	`predicted_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
	CONSTRAINT `table_shadow_predictions_event_id` PRIMARY KEY(`event_id`)
);
--> statement-breakpoint
ALTER TABLE `table_shadow_predictions` ADD CONSTRAINT `fk_shadow_predictions_event` FOREIGN KEY (`event_id`) REFERENCES `table_events`(`event_id`) ON DELETE no action ON UPDATE no action;