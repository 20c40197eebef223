//! Shared by the end-to-end tests and the benches (included with `#[path]`): they create
//! throwaway PostgreSQL databases next to the one `TECHBALANCE_TEST_DATABASE_URL` names.

/// `url` with its database name replaced by `name`, keeping any `?query`.
pub fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let base = match base.rfind('/') {
        Some(slash) if slash > base.find("://").map_or(0, |i| i + 2) => &base[..slash],
        _ => base,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}
