//! `techbalance serve`: the GraphQL API, with the worker unless `--no-worker`.

use std::net::SocketAddr;
use techbalance::config::Config;

pub async fn run(
    mut config: Config,
    bind: Option<SocketAddr>,
    no_worker: bool,
) -> anyhow::Result<()> {
    if let Some(bind) = bind {
        config.bind = bind;
    }
    // Bound first: a server that cannot listen says so at once, before it migrates or seeds
    // anything, and runs no refreshes.
    let listener = techbalance::listen(config.bind).await?;
    let store = techbalance::open_store(&config).await?;
    techbalance::seed_if_empty(&store, &config).await?;
    let background = if no_worker {
        None
    } else {
        Some(techbalance::Background::start(store.clone(), &config)?)
    };
    tracing::info!(
        address = %config.bind,
        database = %techbalance::redact(&config.database.url),
        "serving GraphQL at http://{}/graphql",
        config.bind
    );
    // On SIGTERM/SIGINT the server and the worker stop side by side, each within the grace
    // period; if the server ends on its own, the worker is stopped too.
    let grace = config.shutdown_grace;
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let on_signal = stop.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = on_signal.send(true);
    });
    let serving = async {
        let served = techbalance::serve(store, &config, listener, stopped(stopping.clone())).await;
        let _ = stop.send(true);
        served
    };
    let worker = async {
        stopped(stopping.clone()).await;
        if let Some(background) = background {
            background.stop(grace).await;
        }
    };
    let (served, ()) = tokio::join!(serving, worker);
    tracing::info!("stopped");
    served
}

/// Resolves once `stop` turns true (or its sender is gone).
async fn stopped(mut stop: tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
