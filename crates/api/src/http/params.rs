//! The parameters of a GraphQL-over-HTTP request (`query`, `operationName`, `variables`,
//! `extensions`), from a JSON body or a GET query string, each checked for its JSON type: a
//! wrong type is the client's mistake and gets a 400 that says which parameter.

use async_graphql::{Extensions, Request, Value, Variables};
use serde_json::Map;

/// A request parameter with the wrong type or value; the message is shown to the client.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct BadParams(pub String);

fn bad(message: impl Into<String>) -> BadParams {
    BadParams(message.into())
}

/// A request from the JSON object of a POST body.
pub(super) fn from_json(value: serde_json::Value) -> Result<Request, BadParams> {
    let serde_json::Value::Object(mut object) = value else {
        return Err(bad(
            "a GraphQL request must be a JSON object with a \"query\" string",
        ));
    };
    let extensions = match object.remove("extensions") {
        None | Some(serde_json::Value::Null) => Map::new(),
        Some(serde_json::Value::Object(map)) => map,
        Some(_) => return Err(bad("\"extensions\" must be an object")),
    };
    let query = match object.remove("query") {
        Some(serde_json::Value::String(query)) => query,
        // A persisted query may be sent by its hash alone.
        None | Some(serde_json::Value::Null) if extensions.contains_key("persistedQuery") => {
            String::new()
        }
        None | Some(serde_json::Value::Null) => {
            return Err(bad("the request has no \"query\""));
        }
        Some(_) => return Err(bad("\"query\" must be a string")),
    };
    let operation_name = match object.remove("operationName") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(name)) => Some(name),
        Some(_) => return Err(bad("\"operationName\" must be a string")),
    };
    let variables = match object.remove("variables") {
        None | Some(serde_json::Value::Null) => Variables::default(),
        Some(value @ serde_json::Value::Object(_)) => {
            Variables::from_value(graphql_value(value, "variables")?)
        }
        Some(_) => return Err(bad("\"variables\" must be an object")),
    };
    let mut request = Request::new(query).variables(variables);
    if let Some(name) = operation_name {
        request = request.operation_name(name);
    }
    let mut converted = std::collections::HashMap::new();
    for (name, value) in extensions {
        converted.insert(name, graphql_value(value, "extensions")?);
    }
    request.extensions = Extensions(converted);
    Ok(request)
}

/// A request from a GET query string (`query`, `operationName`, and `variables` and
/// `extensions` as JSON text), already split into pairs.
pub(super) fn from_query_pairs(pairs: Vec<(String, String)>) -> Result<Request, BadParams> {
    let mut object = Map::new();
    for (name, value) in pairs {
        let value = match name.as_str() {
            "query" | "operationName" => serde_json::Value::String(value),
            "variables" | "extensions" => serde_json::from_str(&value)
                .map_err(|_| bad(format!("\"{name}\" must be a JSON object")))?,
            // Other parameters are someone else's (cache busters, tracking): ignored.
            _ => continue,
        };
        if object.insert(name.clone(), value).is_some() {
            return Err(bad(format!("\"{name}\" is given more than once")));
        }
    }
    from_json(serde_json::Value::Object(object))
}

fn graphql_value(value: serde_json::Value, what: &str) -> Result<Value, BadParams> {
    Value::from_json(value)
        .map_err(|_| bad(format!("\"{what}\" holds a value GraphQL cannot take")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_parameter_must_have_its_json_type() {
        for (body, message) in [
            (json!([]), "a GraphQL request must be a JSON object"),
            (json!({}), "the request has no \"query\""),
            (json!({"query": 1}), "\"query\" must be a string"),
            (
                json!({"query": "{a}", "operationName": []}),
                "\"operationName\" must be a string",
            ),
            (
                json!({"query": "{a}", "variables": "x"}),
                "\"variables\" must be an object",
            ),
            (
                json!({"query": "{a}", "extensions": false}),
                "\"extensions\" must be an object",
            ),
        ] {
            let err = from_json(body.clone()).expect_err("refused");
            assert!(err.0.starts_with(message), "{body}: {}", err.0);
        }
    }

    #[test]
    fn nulls_are_absent_and_a_persisted_hash_may_stand_for_the_query() {
        let request = from_json(json!({
            "query": "query Q($a: Int) { a(x: $a) }",
            "operationName": null, "variables": {"a": 1}, "extensions": null
        }))
        .expect("request");
        assert_eq!(request.operation_name, None);
        assert_eq!(request.variables.get("a"), Some(&Value::from(1)));
        let hash_only = from_json(json!({
            "extensions": {"persistedQuery": {"version": 1, "sha256Hash": "ab"}}
        }))
        .expect("hash alone");
        assert!(hash_only.query.is_empty());
        assert!(hash_only.extensions.contains_key("persistedQuery"));
    }

    #[test]
    fn query_strings_carry_json_variables_and_refuse_repeats() {
        let request = from_query_pairs(vec![
            ("query".into(), "{ a }".into()),
            ("variables".into(), r#"{"x":"y"}"#.into()),
            ("_".into(), "cache-buster".into()),
        ])
        .expect("request");
        assert_eq!(request.query, "{ a }");
        assert_eq!(request.variables.get("x"), Some(&Value::from("y")));
        assert!(from_query_pairs(vec![
            ("query".into(), "{ a }".into()),
            ("query".into(), "{ b }".into()),
        ])
        .is_err());
        assert!(from_query_pairs(vec![
            ("query".into(), "{ a }".into()),
            ("variables".into(), "{".into()),
        ])
        .is_err());
    }
}
