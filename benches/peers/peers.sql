-- Computed columns PostGraphile exposes for the two dashboard fields its generated schema has no
-- equivalent of (`Metric.latestByCountry`, `Metric.sources`). Written the way a PostGraphile user
-- would: plain SQL over the same indexes techbalance uses. Applied by run.sh to the bench database.

-- The newest year's current value per country, preferring OECD, then World Bank, then baseline.
CREATE OR REPLACE FUNCTION metrics_latest_by_country(m metrics) RETURNS SETOF observations
LANGUAGE sql STABLE AS $$
  SELECT DISTINCT ON (o.country) o.*
  FROM observations o
  WHERE o.metric = m.slug AND o.recorded_to IS NULL AND o.value IS NOT NULL
  ORDER BY o.country, o.year DESC,
           CASE o.source WHEN 'oecd-msti' THEN 0 WHEN 'worldbank' THEN 1 WHEN 'baseline' THEN 2 ELSE 3 END,
           o.source
$$;

-- The sources with a current value of the metric.
CREATE OR REPLACE FUNCTION metrics_sources(m metrics) RETURNS SETOF sources
LANGUAGE sql STABLE AS $$
  SELECT s.* FROM sources s
  WHERE EXISTS (SELECT 1 FROM observations o
                WHERE o.metric = m.slug AND o.source = s.id
                  AND o.recorded_to IS NULL AND o.value IS NOT NULL)
  ORDER BY s.id
$$;
