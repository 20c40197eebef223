//! The HTTP status of an executed GraphQL response, where it is not 200 for transport reasons.

use crate::error::ErrorCode;
use async_graphql::Value;
use axum::http::StatusCode;

/// 503 when the database outage is all there is to say: the response has errors, every one of
/// them is `SERVICE_UNAVAILABLE`, and there is no data (null, or only null fields). A partial
/// answer keeps its status, so that clients read the data they did get.
pub(crate) fn outage_status(response: &async_graphql::Response) -> Option<StatusCode> {
    let all_unavailable = !response.errors.is_empty()
        && response
            .errors
            .iter()
            .all(|error| ErrorCode::of(error) == Some(ErrorCode::ServiceUnavailable));
    let no_data = match &response.data {
        Value::Null => true,
        Value::Object(fields) => fields.values().all(|v| matches!(v, Value::Null)),
        _ => false,
    };
    (all_unavailable && no_data).then_some(StatusCode::SERVICE_UNAVAILABLE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::{ErrorExtensionValues, Name, Response, ServerError};

    fn error(code: Option<&str>) -> ServerError {
        let mut error = ServerError::new("message", None);
        if let Some(code) = code {
            let mut extensions = ErrorExtensionValues::default();
            extensions.set("code", code);
            error.extensions = Some(extensions);
        }
        error
    }

    fn response(data: Value, codes: &[Option<&str>]) -> Response {
        let mut response = Response::new(data);
        response.errors = codes.iter().map(|c| error(*c)).collect();
        response
    }

    fn object(fields: &[(&str, Value)]) -> Value {
        Value::Object(
            fields
                .iter()
                .map(|(k, v)| (Name::new(*k), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn an_outage_with_no_data_is_a_503() {
        let unavailable = Some("SERVICE_UNAVAILABLE");
        assert_eq!(
            outage_status(&response(Value::Null, &[unavailable, unavailable])),
            Some(StatusCode::SERVICE_UNAVAILABLE)
        );
        let nulls = object(&[("a", Value::Null), ("b", Value::Null)]);
        assert_eq!(
            outage_status(&response(nulls, &[unavailable])),
            Some(StatusCode::SERVICE_UNAVAILABLE)
        );
    }

    #[test]
    fn other_errors_partial_data_and_success_keep_their_status() {
        let unavailable = Some("SERVICE_UNAVAILABLE");
        assert_eq!(outage_status(&response(Value::Null, &[])), None);
        assert_eq!(
            outage_status(&response(Value::Null, &[unavailable, Some("NOT_FOUND")])),
            None
        );
        assert_eq!(
            outage_status(&response(Value::Null, &[unavailable, None])),
            None
        );
        let partial = object(&[("a", Value::from(1)), ("b", Value::Null)]);
        assert_eq!(outage_status(&response(partial, &[unavailable])), None);
    }
}
