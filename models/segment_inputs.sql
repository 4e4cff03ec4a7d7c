-- RFM scores (1–5 quintiles) and flags, the inputs of
-- segmentation and recommendation models.
-- materialized: view
-- schedule: hourly
-- description: recency/frequency/monetary quintiles per person
SELECT
  person_id,
  days_since_last_seen AS recency_days,
  events AS frequency,
  revenue AS monetary,
  ntile(5) OVER (ORDER BY days_since_last_seen DESC, person_id) AS recency_score,
  ntile(5) OVER (ORDER BY events, person_id) AS frequency_score,
  ntile(5) OVER (ORDER BY revenue, person_id) AS monetary_score,
  sessions,
  active_days,
  is_customer
FROM {{ ref('user_profiles') }}
