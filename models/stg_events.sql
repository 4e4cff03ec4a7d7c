-- The lake's accepted events, typed and deduplicated — one row
-- per messageId, built per event hour (late events are picked up when their
-- hour is rebuilt; the lake partitions by received hour, the model by event hour).
-- materialized: incremental
-- incremental_by: hour
-- time_column: event_time
-- schedule: hourly
-- description: typed, deduplicated events by event hour
SELECT
  message_id,
  type,
  event,
  user_id,
  anonymous_id,
  coalesce(user_id, anonymous_id) AS person_id,
  "timestamp" AS event_time,
  original_timestamp,
  sent_at,
  received_at,
  source,
  TRY_CAST(json_extract_string(properties, '$.revenue') AS DOUBLE) AS revenue,
  json_extract_string(properties, '$.currency') AS currency,
  json_extract_string(context, '$.page.url') AS page_url,
  json_extract_string(context, '$.ip') AS ip,
  properties,
  traits,
  context,
  log_offset
FROM {{ source('lake', 'events') }}
WHERE "timestamp" >= {{ hour_start }} AND "timestamp" < {{ hour_end }}
-- The first copy the lake received wins (ingest dedup already dropped most repeats).
QUALIFY row_number() OVER (PARTITION BY message_id ORDER BY received_at, log_offset) = 1
