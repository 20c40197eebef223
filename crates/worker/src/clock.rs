//! The time the scheduler reads and waits on, as a parameter: the system clock in service, a
//! clock the caller moves in tests (stepping through a daylight-saving change takes no time).

use async_trait::async_trait;
use std::sync::Arc;
use techbalance_store::Timestamp;
use tokio::sync::watch;

/// Reads the current instant and waits for a later one.
#[async_trait]
pub trait Clock: Send + Sync {
    /// The current instant (UTC).
    fn now(&self) -> Timestamp;

    /// Resolves once [`Clock::now`] has reached `at` (at once when it already has).
    async fn sleep_until(&self, at: Timestamp);
}

/// The system's wall clock; waits run on tokio's timer. The scheduler re-reads the time at least
/// every schedule reload, so a wall-clock step (NTP) delays nothing by more than that.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

#[async_trait]
impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        techbalance_store::now()
    }

    async fn sleep_until(&self, at: Timestamp) {
        if let Ok(wait) = (at - self.now()).to_std() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// A clock that stands still until it is set: for tests.
#[derive(Clone, Debug)]
pub struct ManualClock {
    now: Arc<watch::Sender<Timestamp>>,
    /// The instant the latest [`Clock::sleep_until`] waits for.
    waiting_for: Arc<watch::Sender<Option<Timestamp>>>,
}

impl ManualClock {
    pub fn new(at: Timestamp) -> Self {
        Self {
            now: Arc::new(watch::Sender::new(at)),
            waiting_for: Arc::new(watch::Sender::new(None)),
        }
    }

    /// Moves the clock to `at`, waking whatever waits for an instant up to it.
    pub fn set(&self, at: Timestamp) {
        self.now.send_replace(at);
    }

    /// Moves the clock to `at` and returns once its one user (a scheduler) has done everything
    /// due by then: when it waits for an instant past `at`. Never returns if nothing waits on it.
    pub async fn advance(&self, at: Timestamp) {
        let mut waiting_for = self.waiting_for.subscribe();
        self.set(at);
        let _ = waiting_for
            .wait_for(|until| until.is_some_and(|until| until > at))
            .await;
    }
}

#[async_trait]
impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.now.borrow()
    }

    async fn sleep_until(&self, at: Timestamp) {
        let mut now = self.now.subscribe();
        self.waiting_for.send_replace(Some(at));
        // The sender lives as long as `self`: this only ends when the time has come.
        let _ = now.wait_for(|now| *now >= at).await;
    }
}
