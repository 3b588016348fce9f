//! Prometheus metrics of the server, in the OpenMetrics text format through
//! `prometheus-client`. Each server has its own registry (no process-wide state), so two
//! servers in one process count apart. Labels carry only statuses, error codes, kinds and
//! file names: never a token, an organization, a path or a payload.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::sync::Semaphore;

use super::scan_stats::ScanStats;
use flowlake::lake::Lake;

/// The media type of the exposition.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    status: u16,
    /// The SPEC §5 (or HTTP-level) error code; empty for a success.
    error: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PrunedLabels {
    by: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReloadLabels {
    file: String,
    outcome: &'static str,
}

/// The server's metrics and their registry.
#[derive(Debug)]
pub struct ServerMetrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: Histogram,
    rows: Counter,
    bytes: Counter,
    in_flight: Gauge,
    parquet_bytes: Counter,
    row_groups_pruned: Family<PrunedLabels, Counter>,
    reloads: Family<ReloadLabels, Counter>,
}

/// Whether a reload was applied or refused (the new version did not parse or validate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadOutcome {
    Applied,
    Refused,
}

impl Default for ServerMetrics {
    fn default() -> Self {
        ServerMetrics::new()
    }
}

impl ServerMetrics {
    /// The request, scan and reload metrics.
    pub fn new() -> ServerMetrics {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "flowlake_requests",
            "Requests answered, by status and error code",
            requests.clone(),
        );
        // 1 ms to ~33 s.
        let duration = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        registry.register(
            "flowlake_request_duration_seconds",
            "Time from request to the last byte of its response",
            duration.clone(),
        );
        let rows = Counter::default();
        registry.register(
            "flowlake_rows_answered",
            "Rows in successful responses",
            rows.clone(),
        );
        let bytes = Counter::default();
        registry.register(
            "flowlake_response_bytes",
            "Body bytes of successful responses",
            bytes.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "flowlake_requests_in_flight",
            "Requests being answered, streaming bodies included",
            in_flight.clone(),
        );
        let parquet_bytes = Counter::default();
        registry.register(
            "flowlake_parquet_bytes_scanned",
            "Parquet bytes read by the queries' scans",
            parquet_bytes.clone(),
        );
        let row_groups_pruned = Family::<PrunedLabels, Counter>::default();
        registry.register(
            "flowlake_parquet_row_groups_pruned",
            "Row groups skipped by the queries' scans, by what pruned them",
            row_groups_pruned.clone(),
        );
        let reloads = Family::<ReloadLabels, Counter>::default();
        registry.register(
            "flowlake_reloads",
            "Changed catalog and access files, applied or refused",
            reloads.clone(),
        );
        // Present at zero from the start, so that an alert on refusals has a series to watch.
        for file in ["workflows.json", "goals.json", "access"] {
            for outcome in ["applied", "refused"] {
                let _created = reloads.get_or_create(&ReloadLabels {
                    file: file.to_string(),
                    outcome,
                });
            }
        }
        ServerMetrics {
            registry,
            requests,
            duration,
            rows,
            bytes,
            in_flight,
            parquet_bytes,
            row_groups_pruned,
            reloads,
        }
    }

    /// Adds the values read at scrape time of a server over `lake` whose `slots` limit its
    /// concurrent requests.
    pub fn with_live_values(
        mut self,
        lake: Arc<Lake>,
        slots: Arc<Semaphore>,
        max_concurrent: usize,
    ) -> ServerMetrics {
        self.registry.register_collector(Box::new(LiveValues {
            lake,
            slots,
            max_concurrent,
        }));
        self
    }

    /// A request started.
    pub fn started(&self) {
        self.in_flight.inc();
    }

    /// A request ended (its body finished, failed or was abandoned).
    pub fn finished(&self, status: u16, error: &str, elapsed: Duration, rows: u64, bytes: u64) {
        self.in_flight.dec();
        self.requests
            .get_or_create(&RequestLabels {
                status,
                error: error.to_string(),
            })
            .inc();
        self.duration.observe(elapsed.as_secs_f64());
        self.rows.inc_by(rows);
        self.bytes.inc_by(bytes);
    }

    /// What a query's scans read and skipped.
    pub fn scanned(&self, stats: &ScanStats) {
        self.parquet_bytes.inc_by(stats.bytes_scanned);
        for (by, n) in stats.row_groups_pruned() {
            self.row_groups_pruned
                .get_or_create(&PrunedLabels { by })
                .inc_by(n);
        }
    }

    /// A changed file was applied or refused.
    pub fn reloaded(&self, file: &str, outcome: ReloadOutcome) {
        let outcome = match outcome {
            ReloadOutcome::Applied => "applied",
            ReloadOutcome::Refused => "refused",
        };
        self.reloads
            .get_or_create(&ReloadLabels {
                file: file.to_string(),
                outcome,
            })
            .inc();
    }

    /// The exposition text.
    pub fn render(&self) -> Result<String, fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// Values read at scrape time from where they are kept: busy slots, the listing cache's
/// counts, the S3 requests of the lake's store.
#[derive(Debug)]
struct LiveValues {
    lake: Arc<Lake>,
    slots: Arc<Semaphore>,
    max_concurrent: usize,
}

impl Collector for LiveValues {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let busy = ConstGauge::new(
            self.max_concurrent
                .saturating_sub(self.slots.available_permits()) as i64,
        );
        busy.encode(encoder.encode_descriptor(
            "flowlake_slots_busy",
            "Query slots in use (of --max-concurrent)",
            None,
            busy.metric_type(),
        )?)?;
        let listings = self.lake.listing_cache_counts();
        for (name, help, value) in [
            (
                "flowlake_listing_cache_hits",
                "Day-folder listings answered from the listing cache",
                listings.hits,
            ),
            (
                "flowlake_listing_cache_misses",
                "Day-folder listings read from the store",
                listings.misses,
            ),
        ] {
            let counter = ConstCounter::new(value);
            counter.encode(encoder.encode_descriptor(
                name,
                help,
                None,
                counter.metric_type(),
            )?)?;
        }
        if let Some(totals) = self.lake.requests() {
            let mut family = encoder.encode_descriptor(
                "flowlake_s3_requests",
                "Requests to the lake's S3 store, by kind",
                None,
                MetricType::Counter,
            )?;
            for (kind, value) in [
                ("list", totals.list),
                ("get", totals.get),
                ("head", totals.head),
                ("put", totals.put),
                ("other", totals.other),
            ] {
                let labels = [("kind", kind)];
                ConstCounter::new(value).encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}
