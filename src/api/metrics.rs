//! Prometheus metrics. Each application instance owns its registry (tests run
//! several in one process), exposed at `/metrics`.

use std::sync::Mutex;

use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

use crate::api::ready::ReadyStats;
use crate::registry::{NetworkHealth, WorkerHealth};

pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    /// 1 while a network refuses this deployment's client, else 0; one
    /// series per configured network.
    network_misconfigured: IntGaugeVec,
    /// Calls a network refused the client on, per configured network.
    network_client_rejections: IntCounterVec,
    /// Worker ticks that failed (an error or a panic).
    worker_failed_ticks: IntCounter,
    /// When the worker last ticked successfully (Unix seconds; 0 before the first).
    worker_last_success: IntGauge,
    worker_due_scan: Gauge,
    /// The ready answers' hits, misses, evictions and bytes, the reads of a
    /// data version, and the watch of data versions.
    ready: ReadyMetrics,
    /// Two scrapes at once must not both add the same refusals.
    sync: Mutex<()>,
}

struct ReadyMetrics {
    hits: IntCounter,
    misses: IntCounter,
    evictions: IntCounter,
    bytes: IntGauge,
    version_reads: IntCounter,
    watches_opened: IntCounter,
    watching: IntGauge,
}

impl ReadyMetrics {
    fn new() -> Self {
        let counter =
            |name: &str, help: &str| IntCounter::new(name, help).expect("static metric definition");
        let gauge =
            |name: &str, help: &str| IntGauge::new(name, help).expect("static metric definition");
        Self {
            hits: counter(
                "tokenwarden_ready_answers_hits_total",
                "Polls answered from a kept ready answer",
            ),
            misses: counter(
                "tokenwarden_ready_answers_misses_total",
                "Polls whose answer was made again (none kept, or the kept one no longer held)",
            ),
            evictions: counter(
                "tokenwarden_ready_answers_evictions_total",
                "Kept answers let go, least recently used first, to stay within the budget",
            ),
            bytes: gauge(
                "tokenwarden_ready_answers_bytes",
                "Bytes of ready answers kept now (ready_answers.budget_bytes bounds it)",
            ),
            version_reads: counter(
                "tokenwarden_ready_version_reads_total",
                "Reads of an organization's data version from the database (polls learn it without reading while the watch is up)",
            ),
            watches_opened: counter(
                "tokenwarden_ready_version_watches_opened_total",
                "Connections that began watching data versions; more than one means the watch was lost and opened again",
            ),
            watching: gauge(
                "tokenwarden_ready_version_watch_up",
                "1 while this instance learns data versions from its watch connection, 0 while polls read them",
            ),
        }
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            Opts::new("tokenwarden_http_requests_total", "HTTP requests answered"),
            &["method", "route", "status"],
        )
        .expect("static metric definition");
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "tokenwarden_http_request_duration_seconds",
                "Time to answer HTTP requests",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["method", "route"],
        )
        .expect("static metric definition");
        let network_misconfigured = IntGaugeVec::new(
            Opts::new(
                "tokenwarden_network_misconfigured",
                "1 while the network refuses this deployment's client credentials",
            ),
            &["network"],
        )
        .expect("static metric definition");
        let network_client_rejections = IntCounterVec::new(
            Opts::new(
                "tokenwarden_network_client_rejections_total",
                "Calls on which the network refused this deployment's client credentials",
            ),
            &["network"],
        )
        .expect("static metric definition");
        let worker_failed_ticks = IntCounter::new(
            "tokenwarden_worker_failed_ticks_total",
            "Lifecycle worker ticks that failed; the worker goes on after each",
        )
        .expect("static metric definition");
        let worker_last_success = IntGauge::new(
            "tokenwarden_worker_last_successful_tick_seconds",
            "When the lifecycle worker last ticked successfully (Unix time; 0 before the first)",
        )
        .expect("static metric definition");
        let worker_due_scan = Gauge::new(
            "tokenwarden_worker_due_scan_seconds",
            "How long the lifecycle worker's last scan for due credentials took (0 before the first)",
        )
        .expect("static metric definition");
        let ready = ReadyMetrics::new();
        for metric in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_duration.clone()),
            Box::new(network_misconfigured.clone()),
            Box::new(network_client_rejections.clone()),
            Box::new(worker_failed_ticks.clone()),
            Box::new(worker_last_success.clone()),
            Box::new(worker_due_scan.clone()),
            Box::new(ready.hits.clone()),
            Box::new(ready.misses.clone()),
            Box::new(ready.evictions.clone()),
            Box::new(ready.bytes.clone()),
            Box::new(ready.version_reads.clone()),
            Box::new(ready.watches_opened.clone()),
            Box::new(ready.watching.clone()),
        ] {
            registry.register(metric).expect("metric registered once");
        }
        Self {
            registry,
            http_requests,
            http_duration,
            network_misconfigured,
            network_client_rejections,
            worker_failed_ticks,
            worker_last_success,
            worker_due_scan,
            ready,
            sync: Mutex::new(()),
        }
    }

    /// Brings the network series up to date with what the state saw. Only
    /// configured networks get a series, so the labels stay bounded.
    pub fn observe_networks<'a>(
        &self,
        health: &NetworkHealth,
        networks: impl Iterator<Item = &'a str>,
    ) {
        let _one_at_a_time = self.sync.lock().unwrap_or_else(|e| e.into_inner());
        let refusing: Vec<String> = health.refusals().into_iter().map(|r| r.network).collect();
        for network in networks {
            let refused = refusing.iter().any(|n| n == network);
            self.network_misconfigured
                .with_label_values(&[network])
                .set(i64::from(refused));
            let counter = self.network_client_rejections.with_label_values(&[network]);
            let seen = health.refused_calls(network);
            if seen > counter.get() {
                counter.inc_by(seen - counter.get());
            }
        }
    }

    /// Brings the worker series up to date with what the state saw.
    pub fn observe_worker(&self, health: &WorkerHealth) {
        let _one_at_a_time = self.sync.lock().unwrap_or_else(|e| e.into_inner());
        let seen = health.snapshot();
        let counted = self.worker_failed_ticks.get();
        if seen.failed_ticks > counted {
            self.worker_failed_ticks.inc_by(seen.failed_ticks - counted);
        }
        self.worker_last_success
            .set(seen.last_successful_tick.map_or(0, |t| t.timestamp()));
        self.worker_due_scan
            .set(seen.last_due_scan.map_or(0.0, |d| d.as_secs_f64()));
    }

    /// Brings the ready answers' series up to date with what they did.
    pub fn observe_ready(&self, seen: &ReadyStats) {
        let _one_at_a_time = self.sync.lock().unwrap_or_else(|e| e.into_inner());
        let ready = &self.ready;
        for (counter, total) in [
            (&ready.hits, seen.kept.hits),
            (&ready.misses, seen.kept.misses),
            (&ready.evictions, seen.kept.evictions),
            (&ready.version_reads, seen.version_reads),
            (&ready.watches_opened, seen.watches_opened),
        ] {
            if total > counter.get() {
                counter.inc_by(total - counter.get());
            }
        }
        ready
            .bytes
            .set(i64::try_from(seen.kept.bytes).unwrap_or(i64::MAX));
        ready.watching.set(i64::from(seen.watching));
    }

    /// The registry in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buffer)
            .expect("encoding metrics to a Vec cannot fail");
        String::from_utf8(buffer).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
