//! The local admin endpoint. sled lets one process hold the store, so while the daemon
//! runs, commands that need the store (`fetch`, `render`) ask the daemon instead. The
//! endpoint is a Unix socket beside the store, readable by its owner only: never on
//! the public listener, never on the network.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `data/kawaraban.db` → `data/kawaraban.db.sock`.
pub fn socket_path(store_path: &Path) -> PathBuf {
    let mut s = store_path.as_os_str().to_owned();
    s.push(".sock");
    PathBuf::from(s)
}

/// Sends one request to the daemon and returns the response body. HTTP/1.1 by hand:
/// one request per connection, so a full client stack would buy nothing here.
pub async fn request(
    socket: &Path,
    method: &str,
    path: &str,
    body: &str,
) -> anyhow::Result<String> {
    let mut stream = tokio::net::UnixStream::connect(socket)
        .await
        .with_context(|| format!("cannot reach the running daemon at {}", socket.display()))?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: kawaraban\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(req.as_bytes())
        .await
        .context("writing to the daemon")?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .await
        .context("reading the daemon's answer")?;
    let text = String::from_utf8_lossy(&raw);
    let (head, payload) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let payload = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(payload)
    } else {
        payload.to_owned()
    };
    if !(200..300).contains(&status) {
        bail!("the daemon answered {status}: {}", payload.trim());
    }
    Ok(payload)
}

fn dechunk(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some((size_line, after)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size_line.trim(), 16) else {
            break;
        };
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    out
}

/// Whether a daemon answers on the socket (a stale file after a crash does not).
pub async fn daemon_running(socket: &Path) -> bool {
    tokio::net::UnixStream::connect(socket).await.is_ok()
}
