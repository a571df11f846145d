//! Observability: the counters and store-call metrics through the `metrics` facade, read back
//! from a real Prometheus exporter's rendering, and the store-call spans through `tracing`, read
//! by a subscriber that records them. Features `metrics` and `tracing`.
#![cfg(all(feature = "metrics", feature = "tracing", feature = "tokio"))]

mod common;

use common::runtime::rt;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use stratacache::{
    Cache, CacheAside, MemoryStore, Store, WriteBehind, WriteThrough, future, publish_metrics,
};

/// The process's recorder: a Prometheus exporter's, installed once.
fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::set_global_recorder(recorder).expect("no other recorder in this test binary");
        handle
    })
}

/// The value of the series whose line starts with `series` (name and labels, as rendered).
fn value(series: &str) -> Option<f64> {
    publish_metrics();
    prometheus()
        .render()
        .lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

fn named(name: &str, capacity: u64) -> Cache<u32, u64> {
    Cache::builder()
        .max_capacity(capacity)
        .shards(1)
        .name(name)
        .build()
        .unwrap()
}

#[test]
fn a_named_caches_counters_are_published_with_its_name() {
    prometheus();
    let cache = named("counters", 2);
    for k in 0..3 {
        cache.insert(k, 0); // the third evicts key 0
    }
    assert_eq!(cache.get(&2), Some(0));
    assert_eq!(cache.get(&0), None);
    assert_eq!(cache.get(&9), None);
    let c = r#"{cache="counters""#;
    assert_eq!(
        value(&format!(
            r#"stratacache_cache_requests_total{c},result="hit"}}"#
        )),
        Some(1.0)
    );
    assert_eq!(
        value(&format!(
            r#"stratacache_cache_requests_total{c},result="miss"}}"#
        )),
        Some(2.0)
    );
    assert_eq!(
        value(&format!("stratacache_cache_inserts_total{c}}}")),
        Some(3.0)
    );
    assert_eq!(
        value(&format!(
            r#"stratacache_cache_removals_total{c},cause="evicted"}}"#
        )),
        Some(1.0)
    );
    assert_eq!(value(&format!("stratacache_cache_entries{c}}}")), Some(2.0));
    // The counters are the cache's own: publishing again changes nothing.
    assert_eq!(
        value(&format!("stratacache_cache_inserts_total{c}}}")),
        Some(3.0)
    );
}

/// A store whose load fails for key 13 and panics for key 66.
struct Moody(MemoryStore<u32, u64>);

#[derive(Debug)]
struct Refused;
impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("refused")
    }
}
impl std::error::Error for Refused {}

impl Store<u32, u64> for Moody {
    type Error = Refused;
    fn load(&self, key: &u32) -> Result<Option<u64>, Refused> {
        match key {
            13 => Err(Refused),
            66 => panic!("a loader that panics"),
            _ => Ok(self.0.load(key).unwrap_or_default()),
        }
    }
    fn write(&self, key: &u32, value: &u64) -> Result<(), Refused> {
        self.0.write(key, value).map_err(|_| Refused)
    }
    fn delete(&self, key: &u32) -> Result<(), Refused> {
        self.0.delete(key).map_err(|_| Refused)
    }
}

#[test]
fn store_calls_are_counted_by_operation_and_outcome_and_timed() {
    prometheus();
    let policy = WriteThrough::new(named("calls", 100), Moody(MemoryStore::new()));
    policy.put(1, 10).unwrap();
    policy.cache().clear();
    assert_eq!(policy.get(&1).unwrap(), Some(10));
    assert_eq!(policy.get(&2).unwrap(), None);
    assert!(policy.get(&13).is_err());
    assert!(policy.get(&66).is_err());
    policy.delete(&1).unwrap();
    let calls = |op: &str, outcome: &str| {
        value(&format!(
            r#"stratacache_store_calls_total{{cache="calls",op="{op}",outcome="{outcome}"}}"#
        ))
    };
    assert_eq!(calls("write", "ok"), Some(1.0));
    assert_eq!(calls("load", "found"), Some(1.0));
    assert_eq!(calls("load", "absent"), Some(1.0));
    assert_eq!(calls("load", "error"), Some(1.0));
    assert_eq!(calls("load", "panic"), Some(1.0));
    assert_eq!(calls("delete", "ok"), Some(1.0));
    // Every load was timed: the latency histogram (a summary in Prometheus's rendering) has
    // the four loads.
    assert_eq!(
        value(r#"stratacache_store_call_duration_seconds_count{cache="calls",op="load"}"#),
        Some(4.0)
    );
}

#[test]
fn write_behind_and_refresh_counters_are_published() {
    prometheus();
    let wb = WriteBehind::builder(named("behind", 100), MemoryStore::new())
        .flush_interval(Duration::from_secs(3600))
        .build()
        .unwrap();
    for k in 0..5 {
        wb.put(k, 1).unwrap();
    }
    assert_eq!(
        value(r#"stratacache_write_behind_pending{cache="behind"}"#),
        Some(5.0)
    );
    wb.flush().unwrap();
    assert_eq!(
        value(r#"stratacache_write_behind_pending{cache="behind"}"#),
        Some(0.0)
    );
    assert_eq!(
        value(r#"stratacache_write_behind_writes_total{cache="behind",result="written"}"#),
        Some(5.0)
    );
    assert_eq!(
        value(r#"stratacache_store_calls_total{cache="behind",op="write_batch",outcome="ok"}"#),
        Some(1.0)
    );
    wb.shutdown().unwrap();

    let clock = stratacache::ManualClock::new();
    let cache = Cache::builder()
        .max_capacity(10)
        .clock(clock.clone())
        .name("refreshing")
        .build()
        .unwrap();
    let store = Arc::new(MemoryStore::new());
    store.write(&1u32, &1u64).unwrap();
    let policy = CacheAside::with_options(
        cache,
        Arc::clone(&store),
        stratacache::PolicyOptions::new().refresh_after(Duration::from_secs(1)),
    );
    assert_eq!(policy.get(&1).unwrap(), Some(1));
    clock.advance(Duration::from_secs(2));
    assert_eq!(policy.get(&1).unwrap(), Some(1)); // stale: served, reloaded behind
    assert_eq!(
        value(r#"stratacache_refreshes_total{cache="refreshing",result="started"}"#),
        Some(1.0)
    );
}

/// A store whose loads never answer.
struct Silent;

impl future::AsyncStore<u32, u64> for Silent {
    type Error = std::convert::Infallible;
    async fn load(&self, _: &u32) -> Result<Option<u64>, Self::Error> {
        std::future::pending().await
    }
    async fn write(&self, _: &u32, _: &u64) -> Result<(), Self::Error> {
        Ok(())
    }
    async fn delete(&self, _: &u32) -> Result<(), Self::Error> {
        Ok(())
    }
}

#[test]
fn a_call_whose_caller_gave_up_is_counted_as_cancelled() {
    prometheus();
    rt().block_on(async {
        let policy = future::CacheAside::new(named("cancelled", 10), Silent);
        // The caller drops its `get` while the load waits on the store.
        let gave_up = tokio::time::timeout(Duration::from_millis(20), policy.get(&1)).await;
        assert!(gave_up.is_err());
    });
    assert_eq!(
        value(r#"stratacache_store_calls_total{cache="cancelled",op="load",outcome="cancelled"}"#),
        Some(1.0)
    );
}

/// Every span the policies open, with its fields, as the subscriber saw them.
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<HashMap<String, String>>>>);

struct Fields<'a>(&'a mut HashMap<String, String>);
impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().into(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
}

impl tracing::Subscriber for Spans {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let mut fields = HashMap::from([("name".to_string(), span.metadata().name().to_string())]);
        span.record(&mut Fields(&mut fields));
        let mut spans = self.0.lock();
        spans.push(fields);
        tracing::span::Id::from_u64(spans.len() as u64)
    }
    fn record(&self, span: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        let mut spans = self.0.lock();
        let i = usize::try_from(span.into_u64()).unwrap() - 1;
        values.record(&mut Fields(&mut spans[i]));
    }
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, _: &tracing::Event<'_>) {}
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn every_store_call_has_a_span_with_the_key_hash_and_the_outcome_never_the_key() {
    let spans = Spans::default();
    let policy = WriteThrough::new(named("traced", 100), Moody(MemoryStore::new()));
    tracing::subscriber::with_default(spans.clone(), || {
        policy.put(424_242, 777_777).unwrap();
        policy.cache().clear();
        assert_eq!(policy.get(&424_242).unwrap(), Some(777_777));
        assert!(policy.get(&13).is_err());
    });
    let seen = spans.0.lock().clone();
    let ops: Vec<(&str, &str)> = seen
        .iter()
        .map(|s| (s["op"].as_str(), s["outcome"].as_str()))
        .collect();
    assert_eq!(ops, [("write", "ok"), ("load", "found"), ("load", "error")]);
    for s in &seen {
        assert_eq!(s["name"], "stratacache.store");
        assert_eq!(s["cache"], "traced");
        assert!(s["key_hash"].parse::<u64>().is_ok(), "{s:?}");
        for v in s.values() {
            assert!(!v.contains("424242") && !v.contains("777777"), "{s:?}");
        }
    }
    // The async policies' calls have their spans too.
    let spans = Spans::default();
    let _guard = tracing::subscriber::set_default(spans.clone());
    rt().block_on(async {
        let policy = future::CacheAside::new(
            named("traced-async", 100),
            future::Blocking::new(MemoryStore::new()),
        );
        policy.put(1, 1).await.unwrap();
        assert_eq!(policy.get(&1).await.unwrap(), Some(1));
    });
    let ops: Vec<String> = spans.0.lock().iter().map(|s| s["op"].clone()).collect();
    assert_eq!(ops, ["write", "load"]);
}
