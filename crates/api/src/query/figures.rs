//! Observations, comparisons and revisions.

use super::resolve;
use crate::connection::{decode_id_cursor, id_cursor, page_size, Page, RevisionConnection};
use crate::error::{ApiError, OrGraphqlError};
use crate::types::{store, Comparison, ComparisonEntry, Metric, Observation, Revision};
use async_graphql::{Context, Object, Result};
use chrono::{DateTime, Utc};
use techbalance_store::entities::observation;
use techbalance_store::history::RevisionFilter;
use techbalance_store::queries::{ObservationFilter, SourcePreference};

/// Most countries one `compare` or `observations` call may name.
const MAX_COUNTRIES: usize = 50;
const REVISION_CURSOR: &str = "revision";

#[derive(Default)]
pub struct FiguresQuery;

#[Object]
impl FiguresQuery {
    /// Every source's values of a metric, by country, year and source; as known now, or at `asOf`.
    #[allow(clippy::too_many_arguments)]
    async fn observations(
        &self,
        ctx: &Context<'_>,
        metric: String,
        #[graphql(desc = "ISO3 or ISO2 codes; every country when omitted")] countries: Option<
            Vec<String>,
        >,
        #[graphql(desc = "First year, inclusive")] from: Option<i32>,
        #[graphql(desc = "Last year, inclusive")] to: Option<i32>,
        #[graphql(desc = "Only this source's values")] source: Option<String>,
        #[graphql(desc = "The values as they were known at this instant")] as_of: Option<
            DateTime<Utc>,
        >,
    ) -> Result<Vec<Observation>> {
        resolve::year_range(from, to).or_gql()?;
        let metric = resolve::metric(ctx, &metric).await?;
        let countries = match countries {
            Some(codes) => Some(codes_of(ctx, &codes).await?),
            None => None,
        };
        let rows = store(ctx)
            .observations(&ObservationFilter {
                metric: metric.slug,
                countries,
                from_year: from,
                to_year: to,
                source: resolve::optional_source(ctx, source).await?,
                as_of,
            })
            .await
            .or_gql()?;
        Ok(rows.into_iter().map(Observation).collect())
    }

    /// One metric's values for several countries side by side, with who leads; from the
    /// preferred source for each year (or the one pinned), as known now or at `asOf`.
    async fn compare(
        &self,
        ctx: &Context<'_>,
        metric: String,
        #[graphql(default_with = "vec![\"USA\".to_string(), \"CHN\".to_string()]")] countries: Vec<
            String,
        >,
        #[graphql(desc = "The year to compare; the latest values when omitted")] year: Option<i32>,
        #[graphql(desc = "Only this source's values")] source: Option<String>,
        #[graphql(desc = "The values as they were known at this instant")] as_of: Option<
            DateTime<Utc>,
        >,
    ) -> Result<Comparison> {
        resolve::year_range(year, year).or_gql()?;
        if countries.len() < 2 {
            return Err(ApiError::bad_input("compare needs at least two countries").into_graphql());
        }
        let metric = Metric(resolve::metric(ctx, &metric).await?);
        let codes = codes_of(ctx, &countries).await?;
        let source = resolve::optional_source(ctx, source).await?;
        let picked = if year.is_none() && source.is_none() && as_of.is_none() {
            // The latest current values: one index probe per country.
            let preference =
                SourcePreference::from_metrics(store(ctx).source_preference(), [&metric.0]);
            store(ctx)
                .latest_values(
                    Some(std::slice::from_ref(&metric.0.slug)),
                    Some(&codes),
                    &preference,
                )
                .await
                .or_gql()?
        } else {
            let rows = store(ctx)
                .observations(&ObservationFilter {
                    metric: metric.0.slug.clone(),
                    countries: Some(codes.clone()),
                    source,
                    as_of,
                    ..Default::default()
                })
                .await
                .or_gql()?;
            metric.pick(store(ctx), rows)
        };
        let entries: Vec<ComparisonEntry> = codes
            .iter()
            .map(|code| {
                let series: Vec<&observation::Model> =
                    picked.iter().filter(|o| &o.country == code).collect();
                let chosen = choose_year(&series, year).cloned();
                ComparisonEntry {
                    country_code: code.clone(),
                    value: chosen.as_ref().and_then(|o| o.value),
                    year_used: chosen.as_ref().map(|o| o.year),
                    observation: chosen.map(Observation),
                }
            })
            .collect();
        let ratio = match (entries[0].value, entries[1].value) {
            (Some(a), Some(b)) if b != 0.0 => Some(a / b),
            _ => None,
        };
        let leader_code = leader(&entries, metric.0.higher_is_better);
        let same_year = year.is_some() && entries.iter().all(|e| e.year_used == year);
        Ok(Comparison {
            metric_slug: metric.0.slug,
            year,
            entries,
            ratio,
            leader_code,
            same_year,
        })
    }

    /// Changes to a metric's figures, oldest first: revised values, withdrawals, and withdrawn
    /// values published again. First publications of a year are not revisions.
    #[allow(clippy::too_many_arguments)]
    async fn revisions(
        &self,
        ctx: &Context<'_>,
        metric: String,
        #[graphql(desc = "ISO3 or ISO2 code")] country: Option<String>,
        #[graphql(desc = "Only this source's revisions")] source: Option<String>,
        #[graphql(desc = "Only revisions recorded at or after this instant")] since: Option<
            DateTime<Utc>,
        >,
        #[graphql(desc = "Page size, 0 to 100", default = 20)] first: i32,
        after: Option<String>,
    ) -> Result<RevisionConnection> {
        let limit = page_size(first).or_gql()?;
        let after = after
            .as_deref()
            .map(|c| decode_id_cursor(REVISION_CURSOR, c))
            .transpose()
            .or_gql()?;
        let metric = resolve::metric(ctx, &metric).await?;
        let country = match country {
            Some(code) => Some(resolve::country(ctx, &code).await?.code),
            None => None,
        };
        let filter = RevisionFilter {
            metric: metric.slug,
            country,
            source: resolve::optional_source(ctx, source).await?,
            since,
        };
        let rows = store(ctx)
            .revisions(&filter, after, limit + 1)
            .await
            .or_gql()?;
        let total = store(ctx).count_revisions(&filter).await.or_gql()?;
        Ok(Page::from_rows(
            rows,
            limit,
            after.is_some(),
            total,
            |r| id_cursor(REVISION_CURSOR, r.id),
            Revision,
        ))
    }
}

async fn codes_of(ctx: &Context<'_>, codes: &[String]) -> Result<Vec<String>> {
    if codes.len() > MAX_COUNTRIES {
        return Err(
            ApiError::bad_input(format!("at most {MAX_COUNTRIES} countries at once"))
                .into_graphql(),
        );
    }
    Ok(resolve::countries(ctx, codes)
        .await?
        .into_iter()
        .map(|c| c.code)
        .collect())
}

/// The requested year if present, else the nearest earlier year, else the nearest later one;
/// the latest year when no year is requested. `series` is ordered by year.
fn choose_year<'a>(
    series: &[&'a observation::Model],
    year: Option<i32>,
) -> Option<&'a observation::Model> {
    match year {
        None => series.last().copied(),
        Some(year) => series
            .iter()
            .rev()
            .find(|o| o.year <= year)
            .or_else(|| series.iter().find(|o| o.year > year))
            .copied(),
    }
}

/// The entry in the stronger position; `None` on a tie or with fewer than two values.
fn leader(entries: &[ComparisonEntry], higher_is_better: bool) -> Option<String> {
    let mut valued: Vec<(&str, f64)> = entries
        .iter()
        .filter_map(|e| e.value.map(|v| (e.country_code.as_str(), v)))
        .collect();
    if valued.len() < 2 {
        return None;
    }
    valued.sort_by(|a, b| {
        let order = a.1.total_cmp(&b.1);
        if higher_is_better {
            order.reverse()
        } else {
            order
        }
    });
    (valued[0].1 != valued[1].1).then(|| valued[0].0.to_owned())
}
