//! Every `extensions.code` the API answers with, in one enum: errors raised by resolvers, by the
//! schema's guard and by the HTTP transport all take their code from here, and the metrics label
//! an operation's outcome with it. The README lists the same codes.

use strum::VariantArray as _;

/// The stable `extensions.code` of a GraphQL error, written in SCREAMING_SNAKE_CASE
/// (`ErrorCode::QueryTooDeep` is `QUERY_TOO_DEEP`).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::VariantArray,
)]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    // The operation ran and failed.
    /// An argument names something that does not exist.
    NotFound,
    /// An argument is out of range or malformed, or asks for what the current state does not allow.
    BadUserInput,
    /// A change conflicts with another one made at the same time or already made.
    Conflict,
    /// No valid operator token was presented.
    Unauthenticated,
    /// The token presented may not do this (it was revoked).
    Forbidden,
    /// A subscriber fell too far behind and was dropped.
    SlowConsumer,
    /// The database cannot be reached right now.
    ServiceUnavailable,
    /// A bug or a broken invariant; details are in the server log only.
    InternalServerError,
    /// A change was not made because its audit entry could not be written.
    AuditFailed,
    /// Writes are refused: the SQLite file was deleted or replaced.
    DatabaseLost,

    // The request never executed (no `data`).
    #[strum(serialize = "GRAPHQL_PARSE_FAILED")]
    ParseFailed,
    #[strum(serialize = "GRAPHQL_VALIDATION_FAILED")]
    ValidationFailed,
    OperationResolutionFailure,
    /// A malformed body or parameter.
    BadRequest,
    PersistedQueryNotFound,
    QueryTooDeep,
    QueryTooComplex,
    /// More list items (nodes) than allowed could come back.
    QueryTooCostly,
    TooManyAliases,
    TooManyDirectives,
    TooManyTokens,
    IntrospectionDisabled,
    /// A mutation or subscription sent where only queries may run (HTTP GET).
    MethodNotAllowed,
    /// A variable's value cannot be coerced to the variable's declared type.
    BadVariableValue,

    // The request did not run to completion, or its answer was not sent.
    /// Past the operation's or the request's time limit.
    Timeout,
    /// An answer larger than the response size limit (HTTP only).
    ResponseTooLarge,

    // Refused by the HTTP transport before it reached the schema.
    PayloadTooLarge,
    UnsupportedMediaType,
    CsrfRejected,
    RateLimited,
    TooManyConnections,
    BatchingDisabled,
    BatchTooLarge,
}

impl ErrorCode {
    /// Every code.
    pub const ALL: &'static [ErrorCode] = ErrorCode::VARIANTS;

    /// The code as clients read it in `extensions.code`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The code of `text`, when it is one of ours.
    pub fn parse(text: &str) -> Option<Self> {
        text.parse().ok()
    }

    /// Whether an error with this code means the request never executed (it has no `data`).
    pub fn is_request_error(self) -> bool {
        use ErrorCode::*;
        matches!(
            self,
            ParseFailed
                | ValidationFailed
                | OperationResolutionFailure
                | BadRequest
                | PersistedQueryNotFound
                | QueryTooDeep
                | QueryTooComplex
                | QueryTooCostly
                | TooManyAliases
                | TooManyDirectives
                | TooManyTokens
                | IntrospectionDisabled
                | MethodNotAllowed
                | BadVariableValue
        )
    }

    /// The code in a GraphQL error's extensions, when it is one of ours.
    pub fn of(error: &async_graphql::ServerError) -> Option<Self> {
        match error.extensions.as_ref().and_then(|e| e.get("code")) {
            Some(async_graphql::Value::String(code)) => Self::parse(code),
            _ => None,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    #[test]
    fn every_code_reads_back_as_itself() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(code.as_str()), Some(*code), "{code}");
            assert!(
                code.as_str()
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c == '_'),
                "{code}"
            );
        }
        assert_eq!(ErrorCode::QueryTooDeep.as_str(), "QUERY_TOO_DEEP");
        assert_eq!(ErrorCode::ParseFailed.as_str(), "GRAPHQL_PARSE_FAILED");
        assert_eq!(ErrorCode::CsrfRejected.as_str(), "CSRF_REJECTED");
        assert_eq!(ErrorCode::parse("query_too_deep"), None);
        assert_eq!(ErrorCode::parse("GRAPHQL_ERROR"), None);
    }

    /// The README lists every code a client may get, so that none is a surprise.
    #[test]
    fn the_readme_names_every_code() {
        let readme = include_str!("../../../../README.md");
        for code in ErrorCode::ALL {
            assert!(
                readme.contains(&format!("`{code}`")),
                "the README does not name `{code}`"
            );
        }
    }
}
