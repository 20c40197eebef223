//! The guard every operation passes before it runs, on every transport (HTTP, WebSocket, SSE):
//! the limits of [`SchemaLimits`], and a stable `extensions.code` on each error raised before
//! execution, so that transports can tell a refused request from a failed one.
//!
//! It is the first extension of the schema, so it sees the query text before persisted queries
//! or async-graphql parse it: a document is scanned ([`document::scan`]), then parsed once,
//! then measured with its fragments expanded ([`document::expanded_size`]); only then do
//! async-graphql's own checks (recursion, directives per field, depth, complexity) run.

use super::coerce;
use super::cost;
use super::document::{self, Expansion};
use super::escapes;
use super::SchemaLimits;
use crate::error::{ApiError, ErrorCode};
use async_graphql::async_trait::async_trait;
use async_graphql::extensions::apollo_persisted_queries::{CacheStorage, LruCacheStorage};
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest, NextRequest,
    NextValidation,
};
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationDefinition, OperationType, Selection,
    SelectionSet,
};
use async_graphql::{
    Pos, Positioned, Request, Response, ServerError, ServerResult, ValidationResult, Value,
    Variables,
};
use sha2::{Digest, Sha256};
use std::any::TypeId;
use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// Put in a request's data by a transport that may only run queries (HTTP GET).
#[derive(Clone, Copy, Debug)]
pub struct QueriesOnly;

/// Put in a request's data to learn which kind of operation it runs: the guard fills it in once
/// it has selected the operation (a request refused before that has none).
#[derive(Clone, Debug, Default)]
pub struct OperationKind(Arc<OnceLock<OperationType>>);

impl OperationKind {
    /// The selected operation's type, once known.
    pub fn get(&self) -> Option<OperationType> {
        self.0.get().copied()
    }
}

/// The extension factory; see the module documentation.
pub(crate) struct Guard {
    pub(crate) limits: SchemaLimits,
    /// The automatic persisted queries' storage, when they are on.
    pub(crate) persisted: Option<LruCacheStorage>,
    pub(crate) documents: Documents,
}

impl ExtensionFactory for Guard {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(GuardExtension {
            limits: self.limits,
            persisted: self.persisted.clone(),
            documents: self.documents.clone(),
            literal_problems: Mutex::default(),
        })
    }
}

/// Documents that passed the guard, parsed, by their text: a dashboard sends the same few
/// documents again and again, and parsing one took more of a small query's time than
/// resolving it. At most [`Documents::ENTRIES`] documents of at most
/// [`Documents::MAX_TEXT_BYTES`] each are kept, the least recently used evicted first. Every
/// check that depends on the request (variables, cost, introspection) still runs each time;
/// only the parsing of an identical text is skipped.
#[derive(Clone)]
pub(crate) struct Documents(Arc<Mutex<lru::LruCache<String, ExecutableDocument>>>);

impl Default for Documents {
    fn default() -> Self {
        let entries =
            std::num::NonZeroUsize::new(Self::ENTRIES).unwrap_or(std::num::NonZeroUsize::MIN);
        Self(Arc::new(Mutex::new(lru::LruCache::new(entries))))
    }
}

impl Documents {
    pub(crate) const ENTRIES: usize = 256;
    pub(crate) const MAX_TEXT_BYTES: usize = 8 * 1024;

    fn get(&self, text: &str) -> Option<ExecutableDocument> {
        let mut documents = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        documents.get(text).cloned()
    }

    fn keep(&self, text: &str, doc: &ExecutableDocument) {
        if text.len() <= Self::MAX_TEXT_BYTES {
            let mut documents = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            documents.put(text.to_owned(), doc.clone());
        }
    }
}

/// Created for each request.
struct GuardExtension {
    limits: SchemaLimits,
    persisted: Option<LruCacheStorage>,
    documents: Documents,
    /// Literals that cannot be coerced, found before validation and reported after it (as the
    /// specification's validation rule "Values of Correct Type" would report them).
    literal_problems: Mutex<Vec<String>>,
}

/// A refusal, through [`ApiError`], without a source location.
pub(crate) fn refused(code: ErrorCode, message: impl Into<String>) -> ServerError {
    let error = ApiError::refused(code, message).into_graphql();
    let mut server_error = ServerError::new(error.message, None);
    server_error.extensions = error.extensions;
    server_error
}

/// One request error carrying every problem, one per line.
fn refused_all(code: ErrorCode, problems: Vec<String>) -> ServerError {
    refused(code, problems.join("\n"))
}

/// Gives `error` the `extensions.code` `code` unless it has one.
fn with_code(mut error: ServerError, code: ErrorCode) -> ServerError {
    let extensions = error.extensions.get_or_insert_with(Default::default);
    if extensions.get("code").is_none() {
        extensions.set("code", code.as_str());
    }
    error
}

impl GuardExtension {
    /// An automatic persisted query whose text [`escapes`] rewrote: its hash is the hash of the
    /// text `sent`, which the persisted-query extension would find does not match the rewritten
    /// text. So the document is registered here under the hash sent (once it was found to be
    /// the hash of the text sent), and the extension finds it by that hash.
    async fn register_rewritten(&self, request: &mut Request, sent: &str, doc: ExecutableDocument) {
        let Some(storage) = &self.persisted else {
            return;
        };
        let Some(Value::Object(persisted)) = request.extensions.get("persistedQuery") else {
            return;
        };
        let hash = persisted_hash(sent);
        if persisted.get("sha256Hash") == Some(&Value::String(hash.clone())) {
            storage.set(hash, doc).await;
            request.query.clear();
        }
    }
}

#[async_trait]
impl Extension for GuardExtension {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let Some(limit) = self.limits.timeout else {
            return next.run(ctx).await;
        };
        match tokio::time::timeout(limit, next.run(ctx)).await {
            Ok(response) => response,
            Err(_) => {
                tracing::warn!(limit_ms = limit.as_millis(), "operation timed out");
                Response::from_errors(vec![refused(
                    ErrorCode::Timeout,
                    format!(
                        "the operation did not finish within {} ms",
                        limit.as_millis()
                    ),
                )])
            }
        }
    }

    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let limits = &self.limits;
        // The text of a document parsed here, to keep once it has passed every check.
        let mut parsed_text = None;
        if !request.query.is_empty() {
            let sent = normalise_escapes(&mut request)?;
            check_shape(limits, document::scan(&request.query))?;
            match self.documents.get(&request.query) {
                Some(doc) => request.set_parsed_query(doc),
                None => parsed_text = Some(request.query.clone()),
            }
            let doc = request
                .parsed_query()
                .map_err(|e| with_code(e, ErrorCode::ParseFailed))?;
            if let Some(sent) = sent {
                let doc = doc.clone();
                self.register_rewritten(&mut request, &sent, doc).await;
            }
        }
        let queries_only = request.data.contains_key(&TypeId::of::<QueriesOnly>());
        let kind = request
            .data
            .get(&TypeId::of::<OperationKind>())
            .and_then(|data| data.downcast_ref::<OperationKind>())
            .cloned();
        // Persisted queries come next: they may fill in the document.
        let mut request = next.run(ctx, request).await.map_err(|e| {
            let code = if e.message == "PersistedQueryNotFound" {
                ErrorCode::PersistedQueryNotFound
            } else {
                ErrorCode::BadRequest
            };
            with_code(e, code)
        })?;
        let operation_name = request.operation_name.clone();
        // Taken out while the parsed document borrows the request, and put back below.
        let mut variables = std::mem::take(&mut request.variables);
        let doc = request
            .parsed_query()
            .map_err(|e| with_code(e, ErrorCode::ParseFailed))?;
        check_document(limits, doc)?;
        let operation = selected_operation(doc, operation_name.as_deref())?;
        if let Some(kind) = kind {
            let _ = kind.0.set(operation.node.ty);
        }
        if queries_only && operation.node.ty != OperationType::Query {
            return Err(refused(
                ErrorCode::MethodNotAllowed,
                format!("a {} cannot be sent with GET; use POST", operation.node.ty),
            ));
        }
        if !limits.introspection && selects_introspection(doc, &operation.node.selection_set) {
            return Err(refused(
                ErrorCode::IntrospectionDisabled,
                "introspection is disabled on this server",
            ));
        }
        let registry = &ctx.schema_env.registry;
        let problems = coerce::variables(registry, &operation.node, &variables);
        if !problems.is_empty() {
            return Err(refused_all(ErrorCode::BadVariableValue, problems));
        }
        for (name, value) in coerce::argument_defaults(registry, doc, &operation.node, &variables) {
            variables.insert(name, value);
        }
        let literal = coerce::literals(registry, doc, &operation.node);
        if let Ok(mut stash) = self.literal_problems.lock() {
            *stash = literal;
        }
        let nodes = cost::nodes(registry, doc, &operation.node, &variables);
        if nodes > limits.nodes {
            tracing::info!(nodes, limit = limits.nodes, "query refused: too costly");
            return Err(refused(
                ErrorCode::QueryTooCostly,
                format!(
                    "the query could return {} items; at most {} are allowed \
                     (ask for smaller pages with `first`, narrower year ranges, or fewer \
                     nested lists)",
                    display_count(nodes),
                    limits.nodes
                ),
            ));
        }
        if let Some(text) = parsed_text {
            self.documents.keep(&text, doc);
        }
        request.variables = variables;
        Ok(request)
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        next.run(ctx, query, variables).await.map_err(|e| {
            if e.message.starts_with("The recursion depth") {
                refused(
                    ErrorCode::QueryTooDeep,
                    format!(
                        "the query nests selections and fragments more than {} deep",
                        self.limits.recursion
                    ),
                )
            } else if e.message.starts_with("The number of directives") {
                with_code(e, ErrorCode::TooManyDirectives)
            } else {
                with_code(e, ErrorCode::ParseFailed)
            }
        })
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await;
        if result.is_ok() {
            let literal = self
                .literal_problems
                .lock()
                .map(|mut stash| std::mem::take(&mut *stash))
                .unwrap_or_default();
            if !literal.is_empty() {
                // Several errors of one request: one `ServerError` each, as validation gives them.
                let errors = literal
                    .into_iter()
                    .map(|problem| refused(ErrorCode::ValidationFailed, problem))
                    .collect();
                return Err(errors);
            }
        }
        result.map_err(|errors| {
            errors
                .into_iter()
                .map(|e| match e.message.as_str() {
                    "Query is nested too deep." => refused(
                        ErrorCode::QueryTooDeep,
                        format!(
                            "the query is nested deeper than {} levels",
                            self.limits.depth
                        ),
                    ),
                    "Query is too complex." => refused(
                        ErrorCode::QueryTooComplex,
                        format!(
                            "the query is more complex than the limit of {}",
                            self.limits.complexity
                        ),
                    ),
                    _ => with_code(e, ErrorCode::ValidationFailed),
                })
                .collect()
        })
    }
}

/// A node count for a message: "about n", or past a trillion only "more than".
fn display_count(nodes: u64) -> String {
    if nodes >= 1_000_000_000_000 {
        "more than a trillion".to_owned()
    } else {
        format!("about {nodes}")
    }
}

/// Rewrites the string escapes the parser does not know ([`escapes`]); the text as sent when it
/// changed.
fn normalise_escapes(request: &mut Request) -> ServerResult<Option<String>> {
    match escapes::normalise(&request.query) {
        Ok(Cow::Borrowed(_)) => Ok(None),
        Ok(Cow::Owned(text)) => Ok(Some(std::mem::replace(&mut request.query, text))),
        Err(error) => {
            let mut refusal = refused(ErrorCode::ParseFailed, error.message);
            refusal.locations = vec![Pos {
                line: error.line,
                column: error.column,
            }];
            Err(refusal)
        }
    }
}

/// The SHA-256 an automatic persisted query is known by, as lowercase hex.
fn persisted_hash(text: &str) -> String {
    format!("{:x}", Sha256::digest(text.as_bytes()))
}

/// The limits [`document::scan`] can tell from the text alone.
fn check_shape(limits: &SchemaLimits, shape: document::Shape) -> ServerResult<()> {
    // (found, allowed, code, what the query does before the count, after it)
    let checks = [
        (
            shape.nesting,
            limits.recursion,
            ErrorCode::QueryTooDeep,
            "nests brackets",
            " deep",
        ),
        (
            shape.aliases,
            limits.aliases,
            ErrorCode::TooManyAliases,
            "has",
            " aliases",
        ),
        (
            shape.directives,
            limits.directives,
            ErrorCode::TooManyDirectives,
            "has",
            " directives",
        ),
        (
            shape.tokens,
            limits.tokens,
            ErrorCode::TooManyTokens,
            "has",
            " tokens",
        ),
    ];
    for (found, allowed, code, before, after) in checks {
        if found > allowed {
            return Err(refused(
                code,
                format!("the query {before} {found}{after}; at most {allowed} are allowed"),
            ));
        }
    }
    Ok(())
}

/// Fragment cycles, and the size of the document with its fragments expanded.
fn check_document(limits: &SchemaLimits, doc: &ExecutableDocument) -> ServerResult<()> {
    match document::expanded_size(doc, limits.complexity) {
        Ok(_) => Ok(()),
        Err(Expansion::Cycle(names)) => Err(refused(
            ErrorCode::ValidationFailed,
            format!(
                "fragment cycle: {}; a fragment cannot spread itself",
                names
                    .iter()
                    .map(|n| format!("\"{n}\""))
                    .collect::<Vec<_>>()
                    .join(" spreads ")
            ),
        )),
        Err(Expansion::TooLarge) => Err(refused(
            ErrorCode::QueryTooComplex,
            format!(
                "the query selects more than {} fields once its fragments are expanded",
                limits.complexity
            ),
        )),
    }
}

/// The operation the request runs, as GraphQL selects it.
fn selected_operation<'d>(
    doc: &'d ExecutableDocument,
    name: Option<&str>,
) -> ServerResult<&'d Positioned<OperationDefinition>> {
    let found = match (&doc.operations, name) {
        (DocumentOperations::Single(operation), None) => Some(operation),
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
            operations.values().next()
        }
        (DocumentOperations::Multiple(_), None) => {
            return Err(refused(
                ErrorCode::OperationResolutionFailure,
                "the document has several operations: name one with operationName",
            ))
        }
        (DocumentOperations::Single(_), Some(_)) => None,
        (DocumentOperations::Multiple(operations), Some(name)) => operations.get(name),
    };
    found.ok_or_else(|| {
        refused(
            ErrorCode::OperationResolutionFailure,
            format!(
                "no operation named \"{}\" in the document",
                name.unwrap_or_default()
            ),
        )
    })
}

/// Whether the root selection (fragments included) asks for `__schema` or `__type`.
fn selects_introspection(doc: &ExecutableDocument, root: &Positioned<SelectionSet>) -> bool {
    fn walk<'d>(
        doc: &'d ExecutableDocument,
        set: &'d SelectionSet,
        seen: &mut HashSet<&'d str>,
    ) -> bool {
        set.items.iter().any(|selection| match &selection.node {
            Selection::Field(field) => {
                matches!(field.node.name.node.as_str(), "__schema" | "__type")
            }
            Selection::InlineFragment(inline) => walk(doc, &inline.node.selection_set.node, seen),
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.as_str();
                seen.insert(name)
                    && doc
                        .fragments
                        .get(name)
                        .is_some_and(|f| walk(doc, &f.node.selection_set.node, seen))
            }
        })
    }
    walk(doc, &root.node, &mut HashSet::new())
}

/// Whether `query` selects a subscription (`operation_name` picks the operation, as GraphQL
/// does). A document the default limits would refuse from its text alone, or one that does not
/// parse, counts as no subscription: it runs on its own, where the guard refuses it properly.
pub(crate) fn selects_subscription(query: &str, operation_name: Option<&str>) -> bool {
    let mut request = Request::new(query);
    request.operation_name = operation_name.map(str::to_owned);
    selected_type(&mut request) == Some(OperationType::Subscription)
}

/// The type of the operation `request` selects, found before it runs (to tell whether it may be
/// answered from a cache, or shared). `None` when the document is empty (a persisted query sent
/// by its hash alone), would be refused by the default limits from its text alone, does not
/// parse, or names no such operation: the guard refuses those properly when they run. The
/// text is scanned before it is parsed, as the guard does, so a hostile document costs no more
/// here than there. The parsed document is left in the request when the guard would parse
/// the same text, so that running it does not parse it again.
pub(crate) fn selected_type(request: &mut Request) -> Option<OperationType> {
    if request.query.is_empty()
        || check_shape(&SchemaLimits::default(), document::scan(&request.query)).is_err()
    {
        return None;
    }
    let ty = |doc: &ExecutableDocument| {
        selected_operation(doc, request.operation_name.as_deref())
            .ok()
            .map(|operation| operation.node.ty)
    };
    let rewritten = match escapes::normalise(&request.query).ok()? {
        Cow::Borrowed(_) => None,
        Cow::Owned(text) => Some(text),
    };
    match rewritten {
        None => {
            let doc = async_graphql::parser::parse_query(&request.query).ok()?;
            let found = ty(&doc);
            request.set_parsed_query(doc);
            found
        }
        // The guard rewrites these escapes before it parses: it will parse the rewritten text.
        Some(text) => ty(&async_graphql::parser::parse_query(text).ok()?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_selected_type_is_found_and_the_document_kept_for_execution() {
        let mut request =
            Request::new("query A { countries { code } } mutation B { x }").operation_name("B");
        assert_eq!(selected_type(&mut request), Some(OperationType::Mutation));
        let mut request = Request::new("{ countries { code } }");
        assert_eq!(selected_type(&mut request), Some(OperationType::Query));
        // Parsed once: execution reuses the document (not the text, now unparseable).
        request.query = "{".to_owned();
        assert!(request.parsed_query().is_ok());
        assert!(selects_subscription(
            "subscription { dataChanged { metric } }",
            None
        ));
    }

    #[test]
    fn a_document_the_limits_refuse_from_its_text_is_not_parsed_before_the_guard() {
        // It parses, but has more aliases than the default limit: the scan says no first.
        let aliases: String = (0..SchemaLimits::default().aliases + 1)
            .map(|i| format!("a{i}: countries {{ code }} "))
            .collect();
        let text = format!("{{ {aliases} }}");
        assert!(async_graphql::parser::parse_query(&text).is_ok());
        let mut request = Request::new(text);
        assert_eq!(selected_type(&mut request), None);
        request.query = "{".to_owned();
        assert!(request.parsed_query().is_err(), "a document was kept");
        // Nor one that does not parse, or names no operation it has.
        assert_eq!(selected_type(&mut Request::new("{ countries {")), None);
        let mut unnamed = Request::new("query A { countries { code } }").operation_name("B");
        assert_eq!(selected_type(&mut unnamed), None);
        assert_eq!(selected_type(&mut Request::new("")), None);
    }

    struct Probe;

    #[async_graphql::Object]
    impl Probe {
        async fn value(&self) -> i32 {
            1
        }
    }

    fn probe_schema(
        documents: &Documents,
    ) -> async_graphql::Schema<Probe, async_graphql::EmptyMutation, async_graphql::EmptySubscription>
    {
        async_graphql::Schema::build(
            Probe,
            async_graphql::EmptyMutation,
            async_graphql::EmptySubscription,
        )
        .extension(Guard {
            limits: SchemaLimits::default(),
            persisted: None,
            documents: documents.clone(),
        })
        .finish()
    }

    fn kept(documents: &Documents) -> usize {
        documents.0.lock().map(|d| d.len()).unwrap_or_default()
    }

    #[tokio::test]
    async fn a_parsed_document_is_kept_once_it_passed_the_guard_and_reused() {
        let documents = Documents::default();
        let schema = probe_schema(&documents);
        let first = schema.execute("{ value }").await;
        assert!(first.errors.is_empty(), "{:?}", first.errors);
        assert!(documents.get("{ value }").is_some());
        // Answered from the kept document, with the same answer.
        let again = schema.execute("{ value }").await;
        assert_eq!(again.data, first.data);
        assert_eq!(kept(&documents), 1);

        // Refused by the guard (too many aliases): not kept.
        let aliases: String = (0..SchemaLimits::default().aliases + 1)
            .map(|i| format!("a{i}: value "))
            .collect();
        let refused = schema.execute(format!("{{ {aliases} }}")).await;
        assert!(!refused.errors.is_empty());
        assert_eq!(kept(&documents), 1);
        // A document that does not parse: nothing to keep.
        assert!(!schema.execute("{ value").await.errors.is_empty());
        assert_eq!(kept(&documents), 1);
    }

    #[tokio::test]
    async fn the_kept_documents_are_bounded_in_number_and_size() {
        let documents = Documents::default();
        let schema = probe_schema(&documents);
        for i in 0..Documents::ENTRIES + 20 {
            let response = schema.execute(format!("query Q{i} {{ value }}")).await;
            assert!(response.errors.is_empty());
        }
        assert_eq!(kept(&documents), Documents::ENTRIES);
        // The most recent are kept, the oldest evicted.
        let last = format!("query Q{} {{ value }}", Documents::ENTRIES + 19);
        assert!(documents.get(&last).is_some());
        assert!(documents.get("query Q0 { value }").is_none());

        let padded = format!("{{ value }}{}", " ".repeat(Documents::MAX_TEXT_BYTES));
        assert!(schema.execute(padded.as_str()).await.errors.is_empty());
        assert!(documents.get(&padded).is_none());
    }
}
