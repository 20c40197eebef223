//! Operator tokens. Reads are public; every mutation needs `Authorization: Bearer <token>`.
//! A token is shown once when created; only its SHA-256 is stored, and a presented token is
//! compared with every stored hash in constant time.

mod session;

pub(crate) use session::Session;

use sha2::{Digest, Sha256};
use techbalance_store::{Store, StoreError};

const PREFIX: &str = "tb_";

/// Who is asking, as far as the request's Authorization header says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// No token presented.
    Anonymous,
    /// A token that matches no stored token, or a malformed header.
    Invalid,
    /// A token that was revoked.
    Revoked(String),
    /// An operator, by token name.
    Operator(String),
    /// The tokens could not be checked (database unavailable).
    Unknown,
}

/// Creates a token named `name` and returns it: the only time it is ever shown.
pub async fn create_token(store: &Store, name: &str) -> Result<String, StoreError> {
    let (token, token_hash) = new_token(name)?;
    store.add_token(name, &token_hash).await?;
    Ok(token)
}

/// A new token for `name`, and the hash to store (as
/// `techbalance_store::operations::CreateToken`).
pub fn new_token(name: &str) -> Result<(String, String), StoreError> {
    if name.trim().is_empty() || name.len() > 100 {
        return Err(StoreError::Invalid(
            "a token name must have 1 to 100 characters".into(),
        ));
    }
    let mut secret = [0u8; 32];
    getrandom::getrandom(&mut secret)
        .map_err(|e| StoreError::Internal(format!("no randomness available: {e}")))?;
    let token = format!("{PREFIX}{}", hex(&secret));
    let token_hash = hash(&token);
    Ok((token, token_hash))
}

/// Identifies the caller from an `Authorization` header value.
pub async fn identify(store: &Store, authorization: Option<&str>) -> Caller {
    let Some(header) = authorization else {
        return Caller::Anonymous;
    };
    let Some(token) = bearer_token(header) else {
        return Caller::Invalid;
    };
    let presented = hash(token);
    let tokens = match store.tokens().await {
        Ok(tokens) => tokens,
        Err(e) => {
            tracing::warn!(error = %e, "could not read tokens");
            return Caller::Unknown;
        }
    };
    // Compare against every token, without stopping at the first match.
    let mut found = None;
    for row in &tokens {
        if constant_time_eq(presented.as_bytes(), row.token_hash.as_bytes()) {
            found = Some(row);
        }
    }
    match found {
        Some(row) if row.revoked_at.is_some() => Caller::Revoked(row.name.clone()),
        Some(row) => Caller::Operator(row.name.clone()),
        None => Caller::Invalid,
    }
}

/// The token of a `Bearer` Authorization header value; the scheme is case-insensitive
/// (RFC 9110, section 11.1), and one or more spaces may follow it.
pub(crate) fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The SHA-256 of a token, in hex, as stored.
pub(crate) fn hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Equality whose time depends only on the lengths.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_hashes_match_and_others_do_not() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for header in ["Bearer tb_x", "bearer tb_x", "BEARER  tb_x ", "bEaReR tb_x"] {
            assert_eq!(bearer_token(header), Some("tb_x"), "{header}");
        }
        for header in ["Basic tb_x", "Bearer", "Bearer ", "tb_x", "Bearertb_x"] {
            assert_eq!(bearer_token(header), None, "{header}");
        }
    }

    #[test]
    fn hashes_are_sha256_hex() {
        assert_eq!(hash("tb_x").len(), 64);
        assert_ne!(hash("tb_x"), hash("tb_y"));
    }
}
