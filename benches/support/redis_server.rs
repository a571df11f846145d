//! A Redis server for the examples and benches: `$STRATACACHE_REDIS_URL` if it answers, else
//! one started here (Debian's `redis-server` on a free loopback port, persistence off), stopped
//! when the returned guard drops.
#![allow(dead_code)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Redis {
    pub url: String,
    child: Option<Child>,
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn answers(url: &str) -> bool {
    let Ok(client) = redis::Client::open(url) else {
        return false;
    };
    let Ok(mut con) = client.get_connection_with_timeout(Duration::from_millis(300)) else {
        return false;
    };
    redis::cmd("PING").query::<String>(&mut con).is_ok()
}

/// A reachable server, or why there is none.
pub fn find_or_start() -> Result<Redis, String> {
    if let Ok(url) = std::env::var("STRATACACHE_REDIS_URL")
        && answers(&url)
    {
        return Ok(Redis { url, child: None });
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| e.to_string())?
        .local_addr()
        .map_err(|e| e.to_string())?
        .port();
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| {
            format!("no Redis: set STRATACACHE_REDIS_URL or install redis-server ({e})")
        })?;
    let r = Redis {
        url: format!("redis://127.0.0.1:{port}/"),
        child: Some(child),
    };
    let start = Instant::now();
    while !answers(&r.url) {
        if start.elapsed() > Duration::from_secs(10) {
            return Err("redis-server did not start".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(r)
}
