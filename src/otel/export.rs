//! The OTLP/HTTP (protobuf) exporter behind a bounded batch processor, configured by the
//! standard `OTEL_*` variables; its HTTP calls run on the server's own runtime and client.

use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::{BatchSpanProcessor, SpanProcessor};
use opentelemetry_sdk::Resource;
use tokio::runtime::Handle;

/// How long one export may take when `OTEL_EXPORTER_OTLP_TIMEOUT` does not say (the spec's 10 s).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether the environment asks for traces: an OTLP endpoint (or `OTEL_TRACES_EXPORTER=otlp`)
/// is set, and neither `OTEL_SDK_DISABLED=true` nor `OTEL_TRACES_EXPORTER=none` turns them off.
/// Nothing set means off: a router that nobody asked to trace builds no spans.
pub(super) fn wanted(env: &dyn Fn(&str) -> Option<String>) -> bool {
    if env("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
        return false;
    }
    let exporters = env("OTEL_TRACES_EXPORTER").unwrap_or_default();
    if exporters.split(',').any(|e| e.trim() == "none") {
        return false;
    }
    exporters.split(',').any(|e| e.trim() == "otlp")
        || [
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
        ]
        .iter()
        .any(|k| env(k).is_some_and(|v| !v.trim().is_empty()))
}

/// The batch processor exporting to the configured endpoint: spans queue in a bounded channel
/// (`OTEL_BSP_MAX_QUEUE_SIZE`, 2048) and a full queue drops them, so a slow or absent
/// collector never holds a request; a background thread sends batches every
/// `OTEL_BSP_SCHEDULE_DELAY` (5 s) or when `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` (512) are waiting.
pub(super) fn processor(rt: Handle) -> Result<BatchSpanProcessor, String> {
    let timeout = [
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
    ]
    .iter()
    .find_map(|k| std::env::var(k).ok()?.trim().parse().ok())
    .map_or(DEFAULT_TIMEOUT, Duration::from_millis);
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| format!("building the OTLP HTTP client: {e}"))?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_timeout(timeout)
        .with_http_client(OnRuntime { client, rt })
        .build()
        .map_err(|e| e.to_string())?;
    let mut processor = BatchSpanProcessor::builder(exporter).build();
    processor.set_resource(&resource());
    Ok(processor)
}

/// `service.name` from `OTEL_SERVICE_NAME` (or `OTEL_RESOURCE_ATTRIBUTES`), `switchyard`
/// otherwise; the other resource attributes from `OTEL_RESOURCE_ATTRIBUTES`.
fn resource() -> Resource {
    let named = std::env::var("OTEL_SERVICE_NAME").is_ok_and(|v| !v.trim().is_empty())
        || std::env::var("OTEL_RESOURCE_ATTRIBUTES").is_ok_and(|v| {
            v.split(',')
                .any(|kv| kv.trim().starts_with("service.name="))
        });
    let builder = Resource::builder()
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")));
    if named {
        builder.build()
    } else {
        builder.with_service_name("switchyard").build()
    }
}

/// The OTLP exporter's HTTP client: the batch processor exports from its own thread, outside
/// any Tokio runtime, so each POST is handed to the server's runtime (where reqwest's async
/// client runs) and awaited from there.
#[derive(Debug)]
struct OnRuntime {
    client: reqwest::Client,
    rt: Handle,
}

#[async_trait::async_trait]
impl HttpClient for OnRuntime {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self.client.clone();
        self.rt
            .spawn(async move { client.send_bytes(request).await })
            .await
            .map_err(|e| Box::new(e) as HttpError)?
    }
}

#[cfg(test)]
mod tests {
    use super::wanted;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn off_unless_an_endpoint_or_the_otlp_exporter_is_named() {
        assert!(!wanted(&env(&[])));
        assert!(wanted(&env(&[(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "http://c:4318"
        )])));
        assert!(wanted(&env(&[(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://c:4318/v1/traces"
        )])));
        assert!(wanted(&env(&[("OTEL_TRACES_EXPORTER", "otlp")])));
        assert!(!wanted(&env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_SDK_DISABLED", "true"),
        ])));
        assert!(!wanted(&env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_TRACES_EXPORTER", "none"),
        ])));
    }
}
