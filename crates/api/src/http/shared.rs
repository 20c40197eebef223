//! Shared subscription execution. Subscribers in one process that send the same subscription
//! (the same text, operation name, variables and extensions) share ONE async-graphql execution.
//! Its responses are serialised once and broadcast as text, and each transport only wraps that
//! text in its own envelope. The execution starts with the first subscriber. It stops when the
//! last one leaves, or when its stream ends. A subscriber that falls more than [`BACKLOG`]
//! deliveries behind is told it lagged; nobody else waits for it.
//!
//! A shared execution runs without its subscribers' credentials. Subscription fields read the
//! store and per-request loaders, never the caller (only mutations do), so an anonymous
//! subscriber and one with a token see the same results. A field that ever depends on the caller
//! must put the caller into [`Key`].

use super::execute::{self, Origin, Prepared};
use super::AppState;
use crate::schema::{selects_subscription, AppSchema};
use futures_util::{FutureExt, StreamExt};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use tokio::sync::broadcast;
use tokio::task::AbortHandle;

/// Deliveries an execution keeps for subscribers that have not read them yet. A subscriber further
/// behind has fallen too far behind.
pub(crate) const BACKLOG: usize = 256;
/// Most responses in one delivery. A delivery holds what the execution had ready at once: the
/// revisions of one change, typically.
const MAX_PAYLOADS: usize = 1024;

/// One response of a shared execution, serialised once for every subscriber.
#[derive(Debug)]
pub(crate) struct Payload {
    /// The response (`data`, `errors`) as JSON.
    pub(crate) response: Box<str>,
    /// The errors alone as JSON, when the operation was refused before it ran (its first
    /// response, without data). Nothing follows a refusal.
    pub(crate) refused: Option<Box<str>>,
}

/// Responses an execution had ready together.
#[derive(Debug)]
pub(crate) struct Delivery {
    pub(crate) payloads: Vec<Payload>,
    /// The execution ended with this delivery: its subscribers are complete.
    pub(crate) last: bool,
}

impl Delivery {
    /// Whether the operation was refused: its subscribers get the errors, and no `complete`.
    pub(crate) fn refused(&self) -> bool {
        self.payloads.iter().any(|p| p.refused.is_some())
    }

    /// Whether the subscription ends with this delivery (it ended, or was refused).
    pub(crate) fn ends(&self) -> bool {
        self.last || self.refused()
    }
}

/// What makes two subscriptions the same.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Key {
    query: String,
    operation: Option<String>,
    /// Variables and extensions as JSON; object keys come sorted, as `serde_json` keeps them.
    variables: String,
    extensions: String,
}

impl Key {
    fn of(request: &async_graphql::Request) -> Self {
        let json = |value: serde_json::Result<serde_json::Value>| match value {
            Ok(value) => value.to_string(),
            Err(_) => String::new(),
        };
        Self {
            query: request.query.clone(),
            operation: request.operation_name.clone(),
            variables: json(serde_json::to_value(&request.variables)),
            extensions: json(serde_json::to_value(&request.extensions)),
        }
    }
}

#[derive(Debug)]
struct Entry {
    id: u64,
    execution: Weak<Execution>,
}

/// The shared executions of one server.
#[derive(Debug, Default)]
pub(crate) struct SharedExecutions {
    running: Mutex<HashMap<Arc<Key>, Entry>>,
    open: AtomicUsize,
    next_id: AtomicU64,
}

/// One running execution. Its subscribers hold it; the last one to let go stops it.
#[derive(Debug)]
pub(crate) struct Execution {
    executions: Arc<SharedExecutions>,
    key: Arc<Key>,
    id: u64,
    sender: broadcast::Sender<Arc<Delivery>>,
    task: AbortHandle,
}

/// What became of a request offered for sharing.
pub(crate) enum Joined {
    /// It joined (or started) a shared execution.
    Shared(Subscriber),
    /// It is not to be shared: it runs on its own.
    Alone(Box<async_graphql::Request>),
}

/// A subscriber of a shared execution: it keeps the execution running, and receives its deliveries.
pub(crate) struct Subscriber {
    pub(crate) execution: Arc<Execution>,
    pub(crate) deliveries: broadcast::Receiver<Arc<Delivery>>,
}

impl SharedExecutions {
    /// Shared executions running now.
    pub(crate) fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Arc<Key>, Entry>> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Joins the execution of `request`, starting it when none runs. Gives the request back
    /// ([`Joined::Alone`]) when it is not to be shared: not a subscription (a query or a mutation reads or acts for
    /// its caller alone), or a persisted query sent by its hash alone.
    pub(crate) fn join(
        self: &Arc<Self>,
        state: &AppState,
        request: async_graphql::Request,
    ) -> Joined {
        if request.query.is_empty() {
            return Joined::Alone(Box::new(request));
        }
        let key = Key::of(&request);
        if let Some(subscriber) = Self::subscribe(&self.lock(), &key) {
            return Joined::Shared(subscriber);
        }
        if !selects_subscription(&request.query, request.operation_name.as_deref()) {
            return Joined::Alone(Box::new(request));
        }
        let mut running = self.lock();
        // Another subscriber may have started it meanwhile.
        if let Some(subscriber) = Self::subscribe(&running, &key) {
            return Joined::Shared(subscriber);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let key = Arc::new(key);
        let (sender, deliveries) = broadcast::channel(BACKLOG);
        let prepared = execute::prepare(state, Origin::shared(), request);
        let task = tokio::spawn(drive(
            state.schema.clone(),
            prepared,
            sender.clone(),
            self.clone(),
            key.clone(),
            id,
        ))
        .abort_handle();
        self.open.fetch_add(1, Ordering::SeqCst);
        let execution = Arc::new(Execution {
            executions: self.clone(),
            key: key.clone(),
            id,
            sender,
            task,
        });
        running.insert(
            key,
            Entry {
                id,
                execution: Arc::downgrade(&execution),
            },
        );
        Joined::Shared(Subscriber {
            execution,
            deliveries,
        })
    }

    fn subscribe(running: &HashMap<Arc<Key>, Entry>, key: &Key) -> Option<Subscriber> {
        let execution = running.get(key)?.execution.upgrade()?;
        let deliveries = execution.sender.subscribe();
        Some(Subscriber {
            execution,
            deliveries,
        })
    }

    /// Ends execution `id`: no subscriber joins it any more, and those it has get `payloads`
    /// as its last delivery. Both happen under the lock, so no one joins it between them.
    fn finish(
        &self,
        key: &Key,
        id: u64,
        sender: &broadcast::Sender<Arc<Delivery>>,
        payloads: Vec<Payload>,
    ) {
        let mut running = self.lock();
        forget(&mut running, key, id);
        let _ = sender.send(Arc::new(Delivery {
            payloads,
            last: true,
        }));
    }
}

/// Removes execution `id` from `running`, unless its key already belongs to a newer execution.
fn forget(running: &mut HashMap<Arc<Key>, Entry>, key: &Key, id: u64) {
    if running.get(key).is_some_and(|entry| entry.id == id) {
        running.remove(key);
    }
}

impl Drop for Execution {
    fn drop(&mut self) {
        self.task.abort();
        forget(&mut self.executions.lock(), &self.key, self.id);
        self.executions.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Runs the execution, serialising each response once, and broadcasting what is ready together
/// as one delivery.
async fn drive(
    schema: AppSchema,
    prepared: Prepared,
    sender: broadcast::Sender<Arc<Delivery>>,
    executions: Arc<SharedExecutions>,
    key: Arc<Key>,
    id: u64,
) {
    let mut stream = std::pin::pin!(prepared.stream(&schema));
    let mut first = true;
    while let Some(response) = stream.next().await {
        let mut payloads = Vec::new();
        let mut next = Some(response);
        let mut ended = false;
        while let Some(response) = next.take() {
            let refused = first && response.data == async_graphql::Value::Null && response.is_err();
            first = false;
            payloads.push(payload(&response, refused));
            if refused {
                ended = true;
            } else if payloads.len() < MAX_PAYLOADS {
                match stream.next().now_or_never() {
                    Some(Some(response)) => next = Some(response),
                    Some(None) => ended = true,
                    None => {}
                }
            }
        }
        if ended {
            executions.finish(&key, id, &sender, payloads);
            return;
        }
        // With no subscriber left this task is being aborted: nothing to do about it.
        let _ = sender.send(Arc::new(Delivery {
            payloads,
            last: false,
        }));
    }
    executions.finish(&key, id, &sender, Vec::new());
}

fn payload(response: &async_graphql::Response, refused: bool) -> Payload {
    let json = |value: serde_json::Result<String>| {
        value
            .unwrap_or_else(|e| {
                serde_json::json!({ "errors": [{ "message": e.to_string() }] }).to_string()
            })
            .into_boxed_str()
    };
    Payload {
        response: json(serde_json::to_string(response)),
        refused: refused.then(|| json(serde_json::to_string(&response.errors))),
    }
}

#[cfg(test)]
mod tests {
    use super::Key;
    use async_graphql::{Request, Variables};

    fn request(variables: serde_json::Value) -> Request {
        Request::new("subscription S($a: Int, $b: Int) { dataChanged { version } }")
            .variables(Variables::from_json(variables))
    }

    #[test]
    fn the_order_of_variables_does_not_split_a_key() {
        assert_eq!(
            Key::of(&request(serde_json::json!({ "a": 1, "b": 2 }))),
            Key::of(&request(serde_json::json!({ "b": 2, "a": 1 })))
        );
    }

    #[test]
    fn different_values_operation_names_or_extensions_make_different_keys() {
        let base = Key::of(&request(serde_json::json!({ "a": 1 })));
        assert_ne!(base, Key::of(&request(serde_json::json!({ "a": 2 }))));
        assert_ne!(
            base,
            Key::of(&request(serde_json::json!({ "a": 1 })).operation_name("S"))
        );
        let mut extended = request(serde_json::json!({ "a": 1 }));
        extended
            .extensions
            .insert("client".into(), async_graphql::Value::from("x"));
        assert_ne!(base, Key::of(&extended));
    }
}
