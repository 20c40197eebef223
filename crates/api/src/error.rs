//! The one user-facing error type. Every failure leaves the API through [`ApiError`] with a
//! stable `extensions.code`; store errors are logged in full and reported without internals.

use async_graphql::ErrorExtensions;
use techbalance_store::StoreError;

#[derive(Debug)]
pub enum ApiError {
    /// An argument names something that does not exist.
    NotFound { what: &'static str, value: String },
    /// An argument is out of range or malformed.
    BadInput(String),
    /// No valid operator token was presented.
    Unauthenticated(String),
    /// The token presented may not do this (it was revoked).
    Forbidden(String),
    /// A subscriber fell too far behind the changes and was dropped.
    SlowConsumer(String),
    /// Refused before it ran, by a limit or by the transport; `code` says which.
    Refused { code: &'static str, message: String },
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
        }
    }

    pub fn bad_input(message: impl Into<String>) -> Self {
        ApiError::BadInput(message.into())
    }

    pub fn refused(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Refused {
            code,
            message: message.into(),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::NotFound { .. } => "NOT_FOUND",
            ApiError::BadInput(_) => "BAD_USER_INPUT",
            ApiError::Unauthenticated(_) => "UNAUTHENTICATED",
            ApiError::Forbidden(_) => "FORBIDDEN",
            ApiError::SlowConsumer(_) => "SLOW_CONSUMER",
            ApiError::Refused { code, .. } => code,
            ApiError::Unavailable => "SERVICE_UNAVAILABLE",
            ApiError::Internal => "INTERNAL_SERVER_ERROR",
        }
    }

    fn message(&self) -> String {
        match self {
            ApiError::NotFound { what, value } => format!("unknown {what} \"{value}\""),
            ApiError::BadInput(message)
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
        let value = match &self {
            ApiError::NotFound { value, .. } => Some(value.clone()),
            _ => None,
        };
        async_graphql::Error::new(self.message()).extend_with(|_, ext| {
            ext.set("code", code);
            if let Some(value) = &value {
                ext.set("value", value.as_str());
            }
        })
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(_) => {
                tracing::warn!(error = %err, "database unavailable");
                ApiError::Unavailable
            }
            StoreError::NotFound { what, id } => ApiError::NotFound { what, value: id },
            StoreError::AuditFailed(cause) if cause.is_unavailable() => {
                tracing::warn!(error = %cause, "database unavailable while auditing");
                ApiError::Unavailable
            }
            StoreError::AuditFailed(_) => ApiError::refused(
                "AUDIT_FAILED",
                "nothing was changed: the audit entry could not be written (the server log says why)",
            ),
            StoreError::DatabaseLost(message) => {
                tracing::error!(%message, "write refused");
                ApiError::refused(
                    "DATABASE_LOST",
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
