//! The companies connection, ordered by name.

use super::arguments;
use crate::connection::{decode_cursor, encode_cursor, page_size, CompanyConnection, Page};
use crate::error::{ApiError, OrGraphqlError};
use crate::types::{store, Company};
use async_graphql::{Context, Object, Result};
use techbalance_store::queries::CompanyFilter;

#[derive(Default)]
pub struct CompaniesQuery;

const CURSOR: &str = "company";

#[Object]
impl CompaniesQuery {
    /// Tech giants, by name, optionally of one country and/or one sector.
    async fn companies(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "ISO3 or ISO2 code")] country: Option<String>,
        #[graphql(desc = "Sector slug")] sector: Option<String>,
        #[graphql(desc = "Page size, 0 to 100", default = 20)] first: i32,
        #[graphql(desc = "Cursor of the last edge already seen")] after: Option<String>,
    ) -> Result<CompanyConnection> {
        let limit = page_size(first).or_gql()?;
        let after = after
            .as_deref()
            .map(|cursor| {
                let payload = decode_cursor(CURSOR, cursor)?;
                payload
                    .split_once('\u{1f}')
                    .map(|(name, slug)| (name.to_owned(), slug.to_owned()))
                    .ok_or_else(|| ApiError::bad_input(format!("invalid cursor \"{cursor}\"")))
            })
            .transpose()
            .or_gql()?;
        let country = match country {
            Some(code) => Some(arguments::country(ctx, &code).await?.code),
            None => None,
        };
        if let Some(slug) = &sector {
            if arguments::find_sector(ctx, slug).await?.is_none() {
                return Err(arguments::unknown_sector(ctx, slug).await);
            }
        }
        let filter = CompanyFilter { country, sector };
        let has_previous_page = after.is_some();
        let rows = store(ctx)
            .companies_page(&filter, after, limit + 1)
            .await
            .or_gql()?;
        let total = store(ctx).count_companies(&filter).await.or_gql()?;
        Ok(Page::from_rows(
            rows,
            limit,
            has_previous_page,
            total,
            |c| encode_cursor(CURSOR, &format!("{}\u{1f}{}", c.name, c.slug)),
            Company,
        ))
    }
}
