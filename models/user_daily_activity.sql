-- One row per person and UTC day they were active.
-- materialized: table
-- schedule: hourly
-- description: events, sessions and revenue per person per day
WITH daily_sessions AS (
  SELECT person_id, CAST(session_start AS DATE) AS day, count(*) AS sessions
  FROM {{ ref('sessions') }}
  GROUP BY 1, 2
),
daily_events AS (
  SELECT
    person_id,
    CAST(event_time AS DATE) AS day,
    count(*) AS events,
    count(*) FILTER (WHERE type = 'track') AS tracks,
    count(*) FILTER (WHERE type IN ('page', 'screen')) AS views,
    count(DISTINCT event) AS distinct_events,
    coalesce(sum(revenue), 0) AS revenue,
    min(event_time) AS first_event_at,
    max(event_time) AS last_event_at
  FROM {{ ref('stg_events') }}
  WHERE person_id IS NOT NULL
  GROUP BY 1, 2
)
SELECT e.*, coalesce(s.sessions, 0) AS sessions
FROM daily_events e
LEFT JOIN daily_sessions s USING (person_id, day)
