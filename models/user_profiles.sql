-- One row per person — first/last seen, totals, last traits,
-- and the columns segmentation reads (recency, frequency, monetary).
-- materialized: table
-- schedule: hourly
-- description: per-person profile with segment-ready columns
WITH totals AS (
  SELECT
    person_id,
    max(user_id) AS user_id,
    min(event_time) AS first_seen_at,
    max(event_time) AS last_seen_at,
    count(*) AS events,
    count(*) FILTER (WHERE event = 'Order Completed') AS orders,
    coalesce(sum(revenue), 0) AS revenue,
    count(DISTINCT CAST(event_time AS DATE)) AS active_days
  FROM {{ ref('stg_events') }}
  WHERE person_id IS NOT NULL
  GROUP BY person_id
),
last_traits AS (
  SELECT person_id, arg_max(traits, (event_time, message_id)) AS traits
  FROM {{ ref('stg_events') }}
  WHERE type = 'identify' AND traits IS NOT NULL AND person_id IS NOT NULL
  GROUP BY person_id
),
session_totals AS (
  SELECT person_id, count(*) AS sessions, avg(duration_seconds) AS avg_session_seconds
  FROM {{ ref('sessions') }}
  GROUP BY person_id
),
data_end AS (
  -- Recency is measured to the newest event in the warehouse, not the wall
  -- clock, so a rebuild of the same data gives the same rows.
  SELECT max(event_time) AS at FROM {{ ref('stg_events') }}
)
SELECT
  t.person_id,
  t.user_id,
  t.first_seen_at,
  t.last_seen_at,
  t.events,
  coalesce(s.sessions, 0) AS sessions,
  s.avg_session_seconds,
  t.orders,
  t.revenue,
  t.active_days,
  l.traits AS last_traits,
  json_extract_string(l.traits, '$.email') AS email,
  json_extract_string(l.traits, '$.name') AS name,
  date_diff('day', t.last_seen_at, d.at) AS days_since_last_seen,
  t.orders > 0 AS is_customer
FROM totals t
CROSS JOIN data_end d
LEFT JOIN last_traits l USING (person_id)
LEFT JOIN session_totals s USING (person_id)
