//! The companies connection (Relay cursor pagination, ordered by name).

use super::resolve;
use crate::error::{ApiError, OrGraphqlError};
use crate::types::{store, Company};
use async_graphql::{Context, Object, Result, SimpleObject};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use techbalance_store::queries::CompanyFilter;

/// Largest `first` a page may ask for.
pub const MAX_PAGE_SIZE: i32 = 100;
const DEFAULT_PAGE_SIZE: i32 = 20;

#[derive(Default)]
pub struct CompaniesQuery;

#[derive(SimpleObject)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub start_cursor: Option<String>,
    pub end_cursor: Option<String>,
}

#[derive(SimpleObject)]
pub struct CompanyEdge {
    pub cursor: String,
    pub node: Company,
}

#[derive(SimpleObject)]
pub struct CompanyConnection {
    /// How many companies match, across all pages.
    pub total_count: u64,
    pub edges: Vec<CompanyEdge>,
    pub page_info: PageInfo,
}

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
        if !(0..=MAX_PAGE_SIZE).contains(&first) {
            return Err(ApiError::bad_input(format!(
                "first must be between 0 and {MAX_PAGE_SIZE} (default {DEFAULT_PAGE_SIZE}), got {first}"
            ))
            .into_graphql());
        }
        let after = after.as_deref().map(decode_cursor).transpose().or_gql()?;
        let country = match country {
            Some(code) => Some(resolve::country(ctx, &code).await?.code),
            None => None,
        };
        if let Some(slug) = &sector {
            if store(ctx).find_sector(slug).await.or_gql()?.is_none() {
                return Err(ApiError::not_found("sector", slug.as_str()).into_graphql());
            }
        }
        let filter = CompanyFilter { country, sector };
        let has_previous_page = after.is_some();
        let mut rows = store(ctx)
            .companies_page(&filter, after, first as u64 + 1)
            .await
            .or_gql()?;
        let has_next_page = rows.len() > first as usize;
        rows.truncate(first as usize);
        let total_count = store(ctx).count_companies(&filter).await.or_gql()?;
        let edges: Vec<CompanyEdge> = rows
            .into_iter()
            .map(|c| CompanyEdge {
                cursor: encode_cursor(&c.name, &c.slug),
                node: Company(c),
            })
            .collect();
        Ok(CompanyConnection {
            total_count,
            page_info: PageInfo {
                has_next_page,
                has_previous_page,
                start_cursor: edges.first().map(|e| e.cursor.clone()),
                end_cursor: edges.last().map(|e| e.cursor.clone()),
            },
            edges,
        })
    }
}

const CURSOR_PREFIX: &str = "company:";

fn encode_cursor(name: &str, slug: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{CURSOR_PREFIX}{name}\u{1f}{slug}"))
}

fn decode_cursor(cursor: &str) -> Result<(String, String), ApiError> {
    let invalid = || ApiError::bad_input(format!("invalid cursor \"{cursor}\""));
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let rest = text.strip_prefix(CURSOR_PREFIX).ok_or_else(invalid)?;
    let (name, slug) = rest.split_once('\u{1f}').ok_or_else(invalid)?;
    Ok((name.to_owned(), slug.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        let cursor = encode_cursor("Alibaba Group", "alibaba");
        assert_eq!(
            decode_cursor(&cursor).ok(),
            Some(("Alibaba Group".into(), "alibaba".into()))
        );
    }

    #[test]
    fn foreign_cursors_are_refused() {
        assert!(decode_cursor("not base64 !").is_err());
        assert!(decode_cursor(&URL_SAFE_NO_PAD.encode("other:x")).is_err());
    }
}
