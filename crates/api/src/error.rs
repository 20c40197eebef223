//! The one user-facing error type. Every failure leaves the API through [`ApiError`] with a
//! stable `extensions.code` ([`ErrorCode`]); store errors are mapped here, once: the caller's
//! mistakes and conflicts are told as such, other failures are logged in full and reported without
//! internals.

mod code;

pub use code::ErrorCode;

use async_graphql::ErrorExtensions;
use techbalance_store::StoreError;

#[derive(Debug)]
pub enum ApiError {
    /// An argument names something that does not exist; `suggestion` is the closest known name.
    NotFound {
        what: &'static str,
        value: String,
        suggestion: Option<String>,
    },
    /// An argument is out of range or malformed.
    BadInput(String),
    /// No valid operator token was presented.
    Unauthenticated(String),
    /// The token presented may not do this (it was revoked).
    Forbidden(String),
    /// A change conflicts with the current state (made meanwhile, or already there).
    Conflict(String),
    /// A subscriber fell too far behind the changes and was dropped.
    SlowConsumer(String),
    /// Refused before it ran, by a limit or by the transport; `code` says which.
    Refused { code: ErrorCode, message: String },
    /// The database cannot be reached right now.
    Unavailable,
    /// A bug or broken invariant; details are in the server log only.
    Internal,
}

impl ApiError {
    pub fn not_found(what: &'static str, value: impl Into<String>) -> Self {
        ApiError::NotFound {
            what,
            value: value.into(),
            suggestion: None,
        }
    }

    /// A [`ApiError::NotFound`] that suggests the known name closest to `value`, if one is close.
    pub fn not_found_among<'a>(
        what: &'static str,
        value: &str,
        known: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        ApiError::NotFound {
            what,
            value: value.to_owned(),
            suggestion: did_you_mean(value, known).map(str::to_owned),
        }
    }

    pub fn bad_input(message: impl Into<String>) -> Self {
        ApiError::BadInput(message.into())
    }

    pub fn refused(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError::Refused {
            code,
            message: message.into(),
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::NotFound { .. } => ErrorCode::NotFound,
            ApiError::BadInput(_) => ErrorCode::BadUserInput,
            ApiError::Conflict(_) => ErrorCode::Conflict,
            ApiError::Unauthenticated(_) => ErrorCode::Unauthenticated,
            ApiError::Forbidden(_) => ErrorCode::Forbidden,
            ApiError::SlowConsumer(_) => ErrorCode::SlowConsumer,
            ApiError::Refused { code, .. } => *code,
            ApiError::Unavailable => ErrorCode::ServiceUnavailable,
            ApiError::Internal => ErrorCode::InternalServerError,
        }
    }

    fn message(&self) -> String {
        match self {
            ApiError::NotFound {
                what,
                value,
                suggestion: None,
            } => format!("unknown {what} \"{value}\""),
            ApiError::NotFound {
                what,
                value,
                suggestion: Some(suggestion),
            } => format!("unknown {what} \"{value}\"; did you mean \"{suggestion}\"?"),
            ApiError::BadInput(message)
            | ApiError::Conflict(message)
            | ApiError::Unauthenticated(message)
            | ApiError::Forbidden(message)
            | ApiError::SlowConsumer(message)
            | ApiError::Refused { message, .. } => message.clone(),
            ApiError::Unavailable => "the database is unavailable; try again shortly".into(),
            ApiError::Internal => "internal error".into(),
        }
    }

    /// Into the GraphQL error, with `extensions.code` (and the offending value for NOT_FOUND).
    pub fn into_graphql(self) -> async_graphql::Error {
        let code = self.code();
        let (value, suggestion) = match &self {
            ApiError::NotFound {
                value, suggestion, ..
            } => (Some(value.clone()), suggestion.clone()),
            _ => (None, None),
        };
        async_graphql::Error::new(self.message()).extend_with(|_, ext| {
            ext.set("code", code.as_str());
            if let Some(value) = &value {
                ext.set("value", value.as_str());
            }
            if let Some(suggestion) = &suggestion {
                ext.set("suggestion", suggestion.as_str());
            }
        })
    }
}

/// The name in `known` closest to `value` (ignoring case), when it is close enough to be what
/// was meant: a Jaro–Winkler similarity of at least 0.8, which favours a shared prefix
/// (`gdp` → `gdp_usd`, `rd_intensty` → `rd_intensity`).
pub fn did_you_mean<'a>(value: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let value = value.trim().to_lowercase();
    known
        .into_iter()
        .map(|name| (name, strsim::jaro_winkler(&value, &name.to_lowercase())))
        .filter(|(name, similarity)| *similarity >= 0.8 && !name.eq_ignore_ascii_case(&value))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(name, _)| name)
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(_) => {
                tracing::warn!(error = %err, "database unavailable");
                ApiError::Unavailable
            }
            StoreError::NotFound { what, id } => ApiError::not_found(what, id),
            StoreError::Invalid(message) => ApiError::BadInput(message),
            StoreError::Conflict(message) => ApiError::Conflict(message),
            StoreError::AuditFailed(cause) if cause.is_unavailable() => {
                tracing::warn!(error = %cause, "database unavailable while auditing");
                ApiError::Unavailable
            }
            StoreError::AuditFailed(_) => ApiError::refused(
                ErrorCode::AuditFailed,
                "nothing was changed: the audit entry could not be written (the server log says why)",
            ),
            StoreError::DatabaseLost(message) => {
                tracing::error!(%message, "write refused");
                ApiError::refused(
                    ErrorCode::DatabaseLost,
                    "writes are refused: the database file was deleted or replaced while the server had it open",
                )
            }
            other => {
                tracing::error!(error = %other, "store error");
                ApiError::Internal
            }
        }
    }
}

/// `?`-friendly conversion of store results into GraphQL results.
pub trait OrGraphqlError<T> {
    fn or_gql(self) -> async_graphql::Result<T>;
}

impl<T> OrGraphqlError<T> for Result<T, StoreError> {
    fn or_gql(self) -> async_graphql::Result<T> {
        self.map_err(|e| ApiError::from(e).into_graphql())
    }
}

impl<T> OrGraphqlError<T> for Result<T, ApiError> {
    fn or_gql(self) -> async_graphql::Result<T> {
        self.map_err(ApiError::into_graphql)
    }
}

#[cfg(test)]
mod tests {
    use super::{did_you_mean, ApiError, ErrorCode};
    use techbalance_store::StoreError;

    fn unavailable() -> sea_orm::DbErr {
        sea_orm::DbErr::ConnectionAcquire(sea_orm::error::ConnAcquireErr::Timeout)
    }

    /// Each kind of store error is told as what it is, with the code the store audits it under;
    /// the store's own failures are told without a word of their detail.
    #[test]
    fn store_errors_are_mapped_once_by_kind() {
        let cases = [
            (
                StoreError::Invalid("cron: bad field".into()),
                ErrorCode::BadUserInput,
                "cron: bad field",
            ),
            (
                StoreError::Conflict("schedule 3 already refreshes oecd".into()),
                ErrorCode::Conflict,
                "schedule 3 already refreshes oecd",
            ),
            (
                StoreError::Internal("arrays of different lengths in table secret_x".into()),
                ErrorCode::InternalServerError,
                "internal error",
            ),
            (
                StoreError::Database(sea_orm::DbErr::Custom("syntax error near SELECT".into())),
                ErrorCode::InternalServerError,
                "internal error",
            ),
            (
                StoreError::NotFound {
                    what: "source",
                    id: "myspace".into(),
                },
                ErrorCode::NotFound,
                "unknown source \"myspace\"",
            ),
            (
                StoreError::Unavailable(unavailable()),
                ErrorCode::ServiceUnavailable,
                "the database is unavailable; try again shortly",
            ),
            (
                StoreError::AuditFailed(Box::new(StoreError::Database(
                    sea_orm::DbErr::Custom("read-only".into()),
                ))),
                ErrorCode::AuditFailed,
                "nothing was changed: the audit entry could not be written (the server log says why)",
            ),
            (
                StoreError::DatabaseLost("replaced".into()),
                ErrorCode::DatabaseLost,
                "writes are refused: the database file was deleted or replaced while the server had it open",
            ),
        ];
        for (store_error, code, message) in cases {
            let audited = store_error.code();
            let error = ApiError::from(store_error).into_graphql();
            let extensions = error.extensions.as_ref().expect("extensions");
            assert_eq!(
                extensions.get("code"),
                Some(&async_graphql::Value::from(code.as_str())),
                "{message}"
            );
            assert_eq!(
                audited,
                code.as_str(),
                "the store audits what the API answers"
            );
            assert_eq!(error.message, message);
        }
    }

    #[test]
    fn close_names_are_suggested_and_far_ones_are_not() {
        let known = [
            "gdp_usd",
            "rd_intensity",
            "patent_applications",
            "researchers_per_million",
        ];
        for (typed, meant) in [
            ("gdp", Some("gdp_usd")),
            ("GDP", Some("gdp_usd")),
            ("rd_intensty", Some("rd_intensity")),
            ("patents", Some("patent_applications")),
            ("researchers", Some("researchers_per_million")),
            ("weather", None),
            ("x", None),
        ] {
            assert_eq!(did_you_mean(typed, known), meant, "{typed}");
        }
    }
}
