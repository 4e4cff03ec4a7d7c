-- A person's events split where 30 minutes pass without one.
-- materialized: table
-- schedule: hourly
-- description: sessions (30-minute inactivity gap) per person
WITH ordered AS (
  SELECT
    person_id,
    message_id,
    event_time,
    revenue,
    lag(event_time) OVER (PARTITION BY person_id ORDER BY event_time, message_id) AS previous_time
  FROM {{ ref('stg_events') }}
  WHERE person_id IS NOT NULL
),
numbered AS (
  SELECT
    *,
    sum(CASE WHEN previous_time IS NULL OR event_time - previous_time > INTERVAL 30 MINUTE THEN 1 ELSE 0 END)
      OVER (PARTITION BY person_id ORDER BY event_time, message_id ROWS UNBOUNDED PRECEDING) AS session_number
  FROM ordered
)
SELECT
  person_id || '#' || session_number AS session_id,
  person_id,
  session_number,
  min(event_time) AS session_start,
  max(event_time) AS session_end,
  epoch(max(event_time)) - epoch(min(event_time)) AS duration_seconds,
  count(*) AS events,
  coalesce(sum(revenue), 0) AS revenue
FROM numbered
GROUP BY person_id, session_number
