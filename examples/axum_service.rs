//! An axum service on stratacache's async API: GET and PUT `/users/{id}` over a SQLite database
//! (20 ms of latency per call, standing for a database across a network) behind a write-behind
//! cache with a TTL, `/stats`, and a graceful shutdown that flushes every acknowledged write.
//!
//! Run: `cargo run --release --features sqlite,tokio --example axum_service` and try
//! `curl -X PUT localhost:3000/users/7 -H 'content-type: application/json' -d '{"name":"Ada"}'`,
//! `curl localhost:3000/users/7`, `curl localhost:3000/stats`; Ctrl-C (or SIGTERM) stops it.
//!
//! `-- --load SECONDS` starts the service on a free port, drives it with its own HTTP/1.1
//! client (64 keep-alive connections, 90 % GET and 10 % PUT over 1,000 users) for that long,
//! prints the throughput, then shuts down and checks that every acknowledged PUT is in SQLite.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant};
use stratacache::future::{Blocking, WriteBehind};
use stratacache::{Cache, ErrorKind, SqliteStore, Store};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

const DB_LATENCY: Duration = Duration::from_millis(20);
const TTL: Duration = Duration::from_secs(60);
const USERS: u64 = 1_000;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct User {
    name: String,
}

type Users = WriteBehind<u64, User, Blocking<SqliteStore<u64, User>>>;

async fn get_user(
    State(users): State<Arc<Users>>,
    Path(id): Path<u64>,
) -> Result<Json<User>, StatusCode> {
    match users.get(&id).await {
        Ok(Some(user)) => Ok(Json(user)),
        Ok(None) => Err(StatusCode::NOT_FOUND),
        Err(_) => Err(StatusCode::SERVICE_UNAVAILABLE),
    }
}

async fn put_user(
    State(users): State<Arc<Users>>,
    Path(id): Path<u64>,
    Json(user): Json<User>,
) -> StatusCode {
    match users.put(id, user).await {
        // Acknowledged: in the cache now, in SQLite after the next batch (or at shutdown).
        Ok(()) => StatusCode::NO_CONTENT,
        Err(e) if e.kind() == ErrorKind::Closed => StatusCode::SERVICE_UNAVAILABLE,
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

async fn stats(State(users): State<Arc<Users>>) -> Json<serde_json::Value> {
    let c = users.cache().stats();
    let w = users.stats();
    Json(serde_json::json!({
        "cache": { "hits": c.hits, "misses": c.misses, "hit_ratio": c.hit_ratio(),
                   "inserts": c.inserts, "evictions": c.evictions, "expirations": c.expirations },
        "write_behind": { "pending": w.pending, "written": w.written,
                          "retried": w.retried, "failed": w.failed },
    }))
}

fn app(users: Arc<Users>) -> Router {
    Router::new()
        .route("/users/{id}", get(get_user).put(put_user))
        .route("/stats", get(stats))
        .with_state(users)
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let load = std::env::args()
        .skip_while(|a| a != "--load")
        .nth(1)
        .map(|s| s.parse::<u64>())
        .transpose()?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("users.db");
    let db = SqliteStore::<u64, User>::open(&path)?.with_latency(DB_LATENCY);
    for id in 0..USERS {
        db.write(
            &id,
            &User {
                name: format!("user {id}"),
            },
        )?;
    }
    let cache = Cache::builder()
        .max_capacity(10_000)
        .time_to_live(TTL)
        .build()?;
    let users = Arc::new(
        WriteBehind::builder(cache, Blocking::new(db))
            .flush_interval(Duration::from_millis(100))
            .build()?,
    );

    let listener = TcpListener::bind(if load.is_some() {
        "127.0.0.1:0"
    } else {
        "127.0.0.1:3000"
    })
    .await?;
    let addr = listener.local_addr()?;
    println!("serving on http://{addr}");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        axum::serve(listener, app(users.clone()))
            .with_graceful_shutdown(async move {
                tokio::select! {
                    _ = shutdown_signal() => {}
                    _ = stopped => {}
                }
            })
            .into_future(),
    );

    let acked = match load {
        Some(secs) => {
            let acked = drive(addr, Duration::from_secs(secs)).await?;
            let _ = stop.send(());
            acked
        }
        None => HashMap::new(),
    };
    server.await??;
    // The server has stopped taking requests: flush what was acknowledged, then stop.
    let pending = users.stats().pending;
    let start = Instant::now();
    users.close().await?;
    println!(
        "shut down: flushed {pending} pending writes in {:.1?}; {:?}",
        start.elapsed(),
        users.stats()
    );
    if !acked.is_empty() {
        let db = SqliteStore::<u64, User>::open(&path)?;
        let lost = acked
            .iter()
            .filter(|(id, name)| {
                db.load(id).ok().flatten().map(|u| u.name) != Some((*name).clone())
            })
            .count();
        println!(
            "{} users with acknowledged PUTs, {lost} of them not in SQLite after shutdown",
            acked.len()
        );
        assert_eq!(lost, 0, "an acknowledged write was lost");
    }
    Ok(())
}

/// The load client: 64 keep-alive connections for `length`; returns the last acknowledged name
/// of every user it PUT (connection `c` PUTs users `c`, `c + 64`, ...).
async fn drive(
    addr: std::net::SocketAddr,
    length: Duration,
) -> Result<HashMap<u64, String>, Box<dyn Error>> {
    const CONNECTIONS: u64 = 64;
    let deadline = Instant::now() + length;
    let clients: Vec<_> = (0..CONNECTIONS)
        .map(|c| tokio::spawn(client(addr, c, deadline)))
        .collect();
    let (mut requests, mut latencies, mut acked) = (0u64, Vec::new(), HashMap::new());
    for c in clients {
        let (n, lat, ack) = c.await?.map_err(|e| e.to_string())?;
        requests += n;
        latencies.extend(lat);
        acked.extend(ack);
    }
    latencies.sort_unstable();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
    println!(
        "load: {requests} requests in {length:?} on {CONNECTIONS} connections: {:.0} req/s, \
         p50 {:.2?}, p99 {:.2?}",
        requests as f64 / length.as_secs_f64(),
        pct(0.50),
        pct(0.99),
    );
    Ok(acked)
}

type ClientResult = Result<(u64, Vec<Duration>, HashMap<u64, String>), String>;

/// One connection: requests until `deadline`, each user chosen by a per-connection xorshift.
async fn client(addr: std::net::SocketAddr, c: u64, deadline: Instant) -> ClientResult {
    let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let (mut n, mut latencies, mut acked) = (0u64, Vec::new(), HashMap::new());
    let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ (c + 1);
    while Instant::now() < deadline {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let put = rng.is_multiple_of(10);
        // A connection PUTs only its own users, so that its last acknowledged name of each is
        // the last one overall.
        let id = if put {
            (rng % (USERS / 64)) * 64 + c
        } else {
            rng % USERS
        };
        let start = Instant::now();
        let name = format!("user {id} v{n}");
        let request = if put {
            let body = serde_json::to_string(&User { name: name.clone() }).unwrap();
            format!(
                "PUT /users/{id} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
                 content-length: {}\r\n\r\n{body}",
                body.len()
            )
        } else {
            format!("GET /users/{id} HTTP/1.1\r\nhost: x\r\n\r\n")
        };
        write
            .write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let status = response(&mut read).await.map_err(|e| e.to_string())?;
        latencies.push(start.elapsed());
        n += 1;
        match (put, status) {
            (true, 204) => {
                acked.insert(id, name);
            }
            (false, 200) => {}
            other => return Err(format!("unexpected answer {other:?}")),
        }
    }
    Ok((n, latencies, acked))
}

/// Reads one response; returns its status.
async fn response(read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> std::io::Result<u16> {
    let mut line = String::new();
    read.read_line(&mut line).await?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut length = 0;
    loop {
        line.clear();
        read.read_line(&mut line).await?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    read.read_exact(&mut body).await?;
    Ok(status)
}
