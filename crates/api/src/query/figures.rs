//! Observations, comparisons and revisions.

use super::{arguments, compare};
use crate::connection::{decode_id_cursor, id_cursor, page_size, Page, RevisionConnection};
use crate::error::OrGraphqlError;
use crate::types::{store, Comparison, Metric, Observation, Revision};
use async_graphql::{Context, Object, Result};
use chrono::{DateTime, Utc};
use techbalance_store::history::RevisionFilter;
use techbalance_store::queries::ObservationFilter;

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
        arguments::year_range(from, to).or_gql()?;
        let metric = arguments::metric(ctx, &metric).await?;
        let countries = match countries {
            Some(codes) => Some(compare::codes_of(ctx, &codes).await?),
            None => None,
        };
        let rows = store(ctx)
            .observations(&ObservationFilter {
                metric: metric.slug,
                countries,
                from_year: from,
                to_year: to,
                source: arguments::optional_source(ctx, source).await?,
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
        arguments::year_range(year, year).or_gql()?;
        let codes = compare::compared_countries(ctx, &countries).await?;
        let metric = Metric(arguments::metric(ctx, &metric).await?);
        let source = arguments::optional_source(ctx, source).await?;
        compare::comparison(store(ctx), &metric, &codes, year, source, as_of).await
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
        let metric = arguments::metric(ctx, &metric).await?;
        let country = match country {
            Some(code) => Some(arguments::country(ctx, &code).await?.code),
            None => None,
        };
        let filter = RevisionFilter {
            metric: metric.slug,
            country,
            source: arguments::optional_source(ctx, source).await?,
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
