//! Logs and traces. Every command installs one `tracing` subscriber: log lines (text or JSON) on
//! stderr and, when an OTLP endpoint is configured, the same spans exported with OpenTelemetry
//! (OTLP over HTTP/protobuf, batched on the SDK's own thread, so a slow or absent collector never
//! holds up a request). Incoming W3C `traceparent` headers are honoured, so the service's spans
//! join the caller's trace.

use crate::config::{Config, LogFormat, TelemetryConfig};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_otlp::{Protocol, WithExportConfig as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use std::time::Duration;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer};

/// How long shutting down may wait for the last spans to reach the collector.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("cannot build the OTLP exporter for {endpoint}: {source}")]
    Exporter {
        endpoint: String,
        source: opentelemetry_otlp::ExporterBuildError,
    },
    #[error("a tracing subscriber is already installed")]
    AlreadyInstalled,
}

/// The installed subscriber. Keep it until the process ends, then call [`Telemetry::shutdown`]
/// so that spans still batched are exported.
#[must_use = "spans batched for export are lost unless `shutdown` is called"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Installs the global subscriber for `config`: its log filter and format, and span export
    /// when `config.telemetry` names an endpoint.
    pub fn install(config: &Config) -> Result<Self, TelemetryError> {
        // sea-orm-migration logs two lines per command even with nothing to apply (`open_store`
        // says what it applied instead), and PostgreSQL's notices reach the log through sqlx as
        // INFO (`relation "seaql_migrations" already exists, skipping` on every start). A filter
        // that names either target gets its lines back.
        let mut filter =
            EnvFilter::try_new(&config.log_filter).unwrap_or_else(|_| EnvFilter::new("info"));
        for (target, quiet) in [
            ("sea_orm_migration", "sea_orm_migration=warn"),
            ("sqlx::postgres::notice", "sqlx::postgres::notice=warn"),
        ] {
            if !config.log_filter.contains(target) {
                if let Ok(quiet) = quiet.parse() {
                    filter = filter.add_directive(quiet);
                }
            }
        }
        // Colours only on a terminal: a log file or pipe gets plain text.
        let log_lines = tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
        let log_lines = match config.log_format {
            LogFormat::Json => log_lines.json().boxed(),
            LogFormat::Text => log_lines.boxed(),
        };
        let provider = config.telemetry.as_ref().map(tracer_provider).transpose()?;
        let export = provider.as_ref().map(|provider| {
            tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("techbalance"))
                .with_threads(false)
        });
        tracing_subscriber::registry()
            .with(filter)
            .with(log_lines)
            .with(export)
            .try_init()
            .map_err(|_| TelemetryError::AlreadyInstalled)?;
        if let Some(telemetry) = &config.telemetry {
            tracing::info!(
                endpoint = %telemetry.traces_endpoint,
                service = %telemetry.service_name,
                "exporting spans with OpenTelemetry"
            );
        }
        Ok(Self { provider })
    }

    /// Exports what is still batched (waiting at most a few seconds for the collector).
    pub fn shutdown(self) {
        if let Some(provider) = self.provider {
            if let Err(err) = provider.shutdown_with_timeout(FLUSH_TIMEOUT) {
                eprintln!("OpenTelemetry: the last spans were not exported: {err}");
            }
        }
    }
}

fn tracer_provider(telemetry: &TelemetryConfig) -> Result<SdkTracerProvider, TelemetryError> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(&telemetry.traces_endpoint)
        .build()
        .map_err(|source| TelemetryError::Exporter {
            endpoint: telemetry.traces_endpoint.clone(),
            source,
        })?;
    let resource = Resource::builder()
        .with_service_name(telemetry.service_name.clone())
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build();
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}
