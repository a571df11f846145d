//! Metrics and traces of a cached service: an axum service whose `/users/{id}` reads through a
//! named cache over SQLite (5 ms per call), with the counters served on `/metrics` in
//! Prometheus's text format by `metrics-exporter-prometheus`, and the store calls traced by
//! `tracing` (printed with `--traces`).
//!
//! Run: `cargo run --release --features metrics,tracing,sqlite,tokio --example metrics` serves
//! on 127.0.0.1:3000 (`curl localhost:3000/users/7`, `curl localhost:3000/metrics`).
//! `-- --check` serves on a free port, sends itself 500 reads of 50 users, prints the
//! `stratacache_` lines of `/metrics` and checks them.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::error::Error;
use std::sync::Arc;
use std::time::Duration;
use stratacache::future::{Blocking, CacheAside};
use stratacache::{Cache, SqliteStore, Store, publish_metrics};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

type Users = CacheAside<u64, String, Blocking<SqliteStore<u64, String>>>;

async fn get_user(
    State(users): State<Arc<Users>>,
    Path(id): Path<u64>,
) -> Result<Json<String>, StatusCode> {
    match users.get(&id).await {
        Ok(Some(user)) => Ok(Json(user)),
        Ok(None) => Err(StatusCode::NOT_FOUND),
        Err(_) => Err(StatusCode::SERVICE_UNAVAILABLE),
    }
}

/// The scrape: publish the caches' counters now, then render everything recorded.
async fn scrape(State(prometheus): State<PrometheusHandle>) -> String {
    publish_metrics();
    prometheus.render()
}

/// One GET over a fresh connection; the body.
async fn fetch(addr: std::net::SocketAddr, path: &str) -> Result<String, Box<dyn Error>> {
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes())
        .await?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).await?;
    Ok(answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().collect();
    let check = args.iter().any(|a| a == "--check");
    if args.iter().any(|a| a == "--traces") {
        // The store calls' spans, as they close (key hashes, never keys).
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
            .init();
    }
    let recorder = PrometheusBuilder::new().build_recorder();
    let prometheus = recorder.handle();
    metrics::set_global_recorder(recorder)?;

    let db = SqliteStore::<u64, String>::open_in_memory()?.with_latency(Duration::from_millis(5));
    for id in 0..40 {
        db.write(&id, &format!("user {id}"))?;
    }
    let cache = Cache::builder()
        .max_capacity(1_000)
        .time_to_live(Duration::from_secs(60))
        .name("users")
        .build()?;
    let users = Arc::new(CacheAside::new(cache, Blocking::new(db)));
    let app = Router::new()
        .route("/users/{id}", get(get_user).with_state(users))
        .route("/metrics", get(scrape).with_state(prometheus));
    let listener = TcpListener::bind(if check {
        "127.0.0.1:0"
    } else {
        "127.0.0.1:3000"
    })
    .await?;
    let addr = listener.local_addr()?;
    if !check {
        println!("serving on http://{addr} (/users/{{id}}, /metrics)");
        axum::serve(listener, app).await?;
        return Ok(());
    }
    tokio::spawn(async move { axum::serve(listener, app).await });
    for i in 0..500u64 {
        fetch(addr, &format!("/users/{}", i % 50)).await?;
    }
    let body = fetch(addr, "/metrics").await?;
    let lines: Vec<&str> = body
        .lines()
        .filter(|l| l.starts_with("stratacache_") && !l.contains("quantile"))
        .collect();
    for l in &lines {
        println!("{l}");
    }
    let value = |series: &str| {
        lines
            .iter()
            .find_map(|l| l.strip_prefix(series)?.trim().parse::<f64>().ok())
    };
    // Ten reads of each of 50 users, 40 of them in the database: the first read of each of the
    // 40 loads it and the other 9 hit; the 10 absent users load (and find nothing) every time,
    // since this policy keeps no negative entries.
    let hits = value(r#"stratacache_cache_requests_total{cache="users",result="hit"}"#);
    let found = value(r#"stratacache_store_calls_total{cache="users",op="load",outcome="found"}"#);
    let absent =
        value(r#"stratacache_store_calls_total{cache="users",op="load",outcome="absent"}"#);
    assert_eq!(found, Some(40.0), "one load per user in the database");
    assert_eq!(absent, Some(100.0), "every read of an absent user loads");
    assert_eq!(hits, Some(360.0), "every later read of the 40 users hits");
    println!("checked: 360 hits, 40 loads that found a user, 100 that did not");
    Ok(())
}
