//! Logs and traces: the log filter and format, and span export with OpenTelemetry, read from the
//! standard OpenTelemetry variables so that the usual collector set-up works unchanged. Headers
//! (`OTEL_EXPORTER_OTLP_HEADERS`), timeouts and batching (`OTEL_BSP_*`) are read by the exporter.
//!
//! `TECHBALANCE_LOG`, `TECHBALANCE_LOG_FORMAT`, `OTEL_EXPORTER_OTLP_ENDPOINT`,
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_EXPORTER_OTLP_PROTOCOL`,
//! `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, `OTEL_SERVICE_NAME`, `OTEL_SDK_DISABLED`.

use super::ConfigError;

/// The only OTLP protocol spoken.
const PROTOCOL: &str = "http/protobuf";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Where spans are exported with OpenTelemetry (OTLP over HTTP/protobuf), when configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TelemetryConfig {
    /// The full URL spans are POSTed to.
    pub traces_endpoint: String,
    pub service_name: String,
}

#[derive(clap::Args, Debug)]
#[group(skip)]
pub struct Variables {
    /// Log filter (`tracing` syntax, e.g. `techbalance=debug,info`)
    #[arg(long = "log", env = "TECHBALANCE_LOG", default_value = "info")]
    pub log_filter: String,
    /// `text` or `json`
    #[arg(long = "log-format", env = "TECHBALANCE_LOG_FORMAT", default_value = "text",
          value_parser = log_format)]
    pub log_format: LogFormat,
    /// Export spans with OpenTelemetry (OTLP/HTTP) to this collector (`/v1/traces` appended)
    #[arg(long = "otlp-endpoint", env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    endpoint: Option<String>,
    /// The collector's full URL for spans, used as is (wins over the one above)
    #[arg(
        long = "otlp-traces-endpoint",
        env = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    )]
    traces_endpoint: Option<String>,
    /// The only protocol spoken; `grpc` is refused
    #[arg(long = "otlp-protocol", env = "OTEL_EXPORTER_OTLP_PROTOCOL", default_value = PROTOCOL)]
    protocol: String,
    /// The same, for spans only (wins over the one above)
    #[arg(
        long = "otlp-traces-protocol",
        env = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
    )]
    traces_protocol: Option<String>,
    /// The service name spans carry
    #[arg(
        long = "otel-service-name",
        env = "OTEL_SERVICE_NAME",
        default_value = "techbalance"
    )]
    service_name: String,
    /// `true` turns span export off
    #[arg(
        long = "otel-sdk-disabled",
        env = "OTEL_SDK_DISABLED",
        default_value = "false"
    )]
    sdk_disabled: String,
}

fn log_format(text: &str) -> Result<LogFormat, String> {
    match text {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        _ => Err("neither \"text\" nor \"json\"".to_owned()),
    }
}

impl Variables {
    /// Span export, `None` when disabled or when no endpoint is configured.
    pub fn telemetry(&self) -> Result<Option<TelemetryConfig>, ConfigError> {
        if self.sdk_disabled.trim().eq_ignore_ascii_case("true") {
            return Ok(None);
        }
        let (variable, protocol) = match &self.traces_protocol {
            Some(protocol) => ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", protocol),
            None => ("OTEL_EXPORTER_OTLP_PROTOCOL", &self.protocol),
        };
        if protocol != PROTOCOL {
            return Err(ConfigError::new(
                variable,
                format!(
                    "\"{protocol}\" is not supported: spans are exported as \"{PROTOCOL}\" \
                     (the collector's HTTP port, usually 4318)"
                ),
            ));
        }
        let (variable, traces_endpoint) = match (&self.traces_endpoint, &self.endpoint) {
            (Some(endpoint), _) => ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", endpoint.clone()),
            (None, Some(endpoint)) => (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("{}/v1/traces", endpoint.trim_end_matches('/')),
            ),
            (None, None) => return Ok(None),
        };
        if !(traces_endpoint.starts_with("http://") || traces_endpoint.starts_with("https://")) {
            return Err(ConfigError::new(
                variable,
                format!("\"{traces_endpoint}\" is not an http(s) URL"),
            ));
        }
        Ok(Some(TelemetryConfig {
            traces_endpoint,
            service_name: self.service_name.clone(),
        }))
    }
}
