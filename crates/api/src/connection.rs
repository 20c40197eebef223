//! Relay cursor connections, shared by every paginated field: opaque cursors, `first` checked
//! against [`MAX_PAGE_SIZE`], `hasNextPage` from one extra row.

use crate::error::ApiError;
use crate::types::{AuditEntry, Company, RefreshRun, Revision};
use async_graphql::SimpleObject;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Largest `first` a page may ask for.
pub const MAX_PAGE_SIZE: i32 = 100;
pub const DEFAULT_PAGE_SIZE: i32 = 20;

#[derive(SimpleObject)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub start_cursor: Option<String>,
    pub end_cursor: Option<String>,
}

/// A connection type over a node type; made by [`connection!`].
pub trait Page<N>: Sized {
    fn assemble(total_count: u64, edges: Vec<(String, N)>, page_info: PageInfo) -> Self;

    /// Builds a page from `rows` fetched with `limit + 1` (see [`page_size`]).
    fn from_rows<R>(
        rows: Vec<R>,
        limit: u64,
        has_previous_page: bool,
        total_count: u64,
        cursor: impl Fn(&R) -> String,
        node: impl Fn(R) -> N,
    ) -> Self {
        let has_next_page = rows.len() as u64 > limit;
        let edges: Vec<(String, N)> = rows
            .into_iter()
            .take(limit as usize)
            .map(|row| (cursor(&row), node(row)))
            .collect();
        let page_info = PageInfo {
            has_next_page,
            has_previous_page,
            start_cursor: edges.first().map(|e| e.0.clone()),
            end_cursor: edges.last().map(|e| e.0.clone()),
        };
        Self::assemble(total_count, edges, page_info)
    }
}

macro_rules! connection {
    ($($connection:ident, $edge:ident, $node:ty;)*) => {$(
        #[derive(SimpleObject)]
        pub struct $edge {
            pub cursor: String,
            pub node: $node,
        }

        #[derive(SimpleObject)]
        pub struct $connection {
            /// How many items match, across all pages.
            pub total_count: u64,
            pub edges: Vec<$edge>,
            pub page_info: PageInfo,
        }

        impl Page<$node> for $connection {
            fn assemble(total_count: u64, edges: Vec<(String, $node)>, page_info: PageInfo) -> Self {
                let edges = edges.into_iter().map(|(cursor, node)| $edge { cursor, node }).collect();
                Self { total_count, edges, page_info }
            }
        }
    )*};
}

connection! {
    CompanyConnection, CompanyEdge, Company;
    RevisionConnection, RevisionEdge, Revision;
    RefreshRunConnection, RefreshRunEdge, RefreshRun;
    AuditEntryConnection, AuditEntryEdge, AuditEntry;
}

/// Checks `first`; the page size to return (fetch one more to learn `hasNextPage`).
pub fn page_size(first: i32) -> Result<u64, ApiError> {
    if (0..=MAX_PAGE_SIZE).contains(&first) {
        Ok(first as u64)
    } else {
        Err(ApiError::bad_input(format!(
            "first must be between 0 and {MAX_PAGE_SIZE} (default {DEFAULT_PAGE_SIZE}), got {first}"
        )))
    }
}

/// An opaque cursor: `kind` and `payload`, base64url.
pub fn encode_cursor(kind: &str, payload: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{kind}:{payload}"))
}

/// The payload of a cursor made by [`encode_cursor`] with the same `kind`.
pub fn decode_cursor(kind: &str, cursor: &str) -> Result<String, ApiError> {
    let invalid = || ApiError::bad_input(format!("invalid cursor \"{cursor}\""));
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    text.strip_prefix(kind)
        .and_then(|rest| rest.strip_prefix(':'))
        .map(str::to_owned)
        .ok_or_else(invalid)
}

/// Cursor of an item identified by a numeric id.
pub fn id_cursor(kind: &str, id: i64) -> String {
    encode_cursor(kind, &id.to_string())
}

pub fn decode_id_cursor(kind: &str, cursor: &str) -> Result<i64, ApiError> {
    decode_cursor(kind, cursor)?
        .parse()
        .map_err(|_| ApiError::bad_input(format!("invalid cursor \"{cursor}\"")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        let cursor = encode_cursor("company", "Alibaba Group\u{1f}alibaba");
        assert_eq!(
            decode_cursor("company", &cursor).ok().as_deref(),
            Some("Alibaba Group\u{1f}alibaba")
        );
        assert_eq!(
            decode_id_cursor("run", &id_cursor("run", 42)).ok(),
            Some(42)
        );
    }

    #[test]
    fn foreign_cursors_are_refused() {
        assert!(decode_cursor("company", "not base64 !").is_err());
        assert!(decode_cursor("company", &encode_cursor("run", "1")).is_err());
        assert!(decode_id_cursor("run", &encode_cursor("run", "x")).is_err());
    }

    #[test]
    fn page_sizes_are_bounded() {
        assert_eq!(page_size(0).ok(), Some(0));
        assert_eq!(page_size(100).ok(), Some(100));
        assert!(page_size(101).is_err());
        assert!(page_size(-1).is_err());
    }
}
