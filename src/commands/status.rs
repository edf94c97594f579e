//! `eice-proxy status`: the open tunnels of a running `serve`, fetched from
//! its `/status` page and printed as a table.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::cli::StatusArgs;
use crate::metrics::{Status, TunnelStatus};

/// How long the whole exchange with the proxy may take.
const PATIENCE: Duration = Duration::from_secs(10);

/// The largest status page read (some thousands of tunnels).
const MAX_PAGE: u64 = 16 * 1024 * 1024;

pub(super) async fn run(args: StatusArgs) -> anyhow::Result<()> {
    let status = timeout(PATIENCE, fetch(args.metrics))
        .await
        .with_context(|| {
            format!(
                "{} did not answer within {}s",
                args.metrics,
                PATIENCE.as_secs()
            )
        })??;
    print!("{}", table(&status));
    Ok(())
}

/// GET /status over plain HTTP/1.1; the server closes after one answer.
async fn fetch(addr: SocketAddr) -> anyhow::Result<Status> {
    let mut stream = match TcpStream::connect(addr).await {
        Ok(stream) => stream,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => bail!(
            "nothing listens on {addr}: is `serve` running with [metrics] listen = \"{addr}\" \
             in its config file (or --metrics-listen {addr})?"
        ),
        Err(e) => bail!("cannot reach {addr}: {e}"),
    };
    let request = format!("GET /status HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    (&mut stream)
        .take(MAX_PAGE)
        .read_to_end(&mut answer)
        .await
        .with_context(|| format!("reading the answer of {addr}"))?;
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status_line = head.lines().next().unwrap_or_default();
    if status_line.split_whitespace().nth(1) != Some("200") {
        bail!("{addr} answered {status_line:?}: is it the metrics address of eice-proxy serve?");
    }
    serde_json::from_str(body)
        .with_context(|| format!("{addr}/status is not eice-proxy's status page"))
}

/// The status as a table, one open tunnel per row.
fn table(status: &Status) -> String {
    let n = status.tunnels.len();
    let mut out = format!(
        "eice-proxy {}, up {}, {n} open tunnel{}\n",
        status.version,
        duration(status.uptime_seconds),
        if n == 1 { "" } else { "s" }
    );
    for e in &status.endpoints {
        out += &format!(
            "endpoint {}: {} of {} tunnels in use{}\n",
            e.endpoint,
            e.tunnels,
            e.limit,
            match e.waiting {
                0 => String::new(),
                w => format!(
                    ", {w} connection{} waiting in line",
                    if w == 1 { "" } else { "s" }
                ),
            }
        );
    }
    if n == 0 {
        return out;
    }
    let header = [
        "ID", "CLIENT", "TARGET", "ENDPOINT", "AGE", "LEFT", "UP", "DOWN",
    ]
    .map(String::from);
    let rows: Vec<[String; 8]> = std::iter::once(header)
        .chain(status.tunnels.iter().map(row))
        .collect();
    let widths: Vec<usize> = (0..8)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    out.push('\n');
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out += cells.join("  ").trim_end();
        out.push('\n');
    }
    out
}

/// A tunnel's row. LEFT is the time until EICE closes it at its
/// maxTunnelDuration; a stream through a hop shows `-` (the hop moves new
/// streams to a fresh connection before its tunnel's end).
fn row(t: &TunnelStatus) -> [String; 8] {
    [
        t.id.to_string(),
        t.client.to_string(),
        t.target.clone(),
        t.endpoint.clone(),
        duration(t.age_seconds),
        t.closes_in_seconds.map_or_else(|| "-".to_owned(), duration),
        bytes(t.bytes_up),
        bytes(t.bytes_down),
    ]
}

/// `42s`, `3m05s`, `2h07m`, `3d04h`.
fn duration(seconds: u64) -> String {
    let (m, h, d) = (seconds / 60, seconds / 3600, seconds / 86_400);
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{m}m{:02}s", seconds % 60),
        3600..86_400 => format!("{h}h{:02}m", m % 60),
        _ => format!("{d}d{:02}h", h % 24),
    }
}

/// `512 B`, `1.5 KiB`, `20.0 MiB`.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_ages_read_at_a_glance() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(20 * 1024 * 1024), "20.0 MiB");
        assert_eq!(duration(42), "42s");
        assert_eq!(duration(185), "3m05s");
        assert_eq!(duration(2 * 3600 + 7 * 60), "2h07m");
        assert_eq!(duration(3 * 86_400 + 4 * 3600), "3d04h");
    }

    #[test]
    fn the_table_has_a_row_per_tunnel_in_aligned_columns() {
        let tunnel = |id, target: &str| TunnelStatus {
            id,
            protocol: "socks5".into(),
            client: "127.0.0.1:50000".parse().unwrap(),
            target: target.into(),
            instance: None,
            endpoint: "eice-0123456789abcdef0".into(),
            hop: None,
            age_seconds: 61,
            closes_in_seconds: Some(3539),
            bytes_up: 10,
            bytes_down: 2048,
        };
        let status = Status {
            version: "1.2.3".into(),
            uptime_seconds: 3600,
            endpoints: vec![crate::metrics::EndpointStatus {
                endpoint: "eice-0123456789abcdef0".into(),
                tunnels: 20,
                limit: 20,
                waiting: 5,
            }],
            tunnels: vec![
                tunnel(7, "web-1:22"),
                tunnel(12, "i-0a1b2c3d4e5f60001:3389"),
            ],
        };
        let text = table(&status);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "eice-proxy 1.2.3, up 1h00m, 2 open tunnels");
        assert_eq!(
            lines[1],
            "endpoint eice-0123456789abcdef0: 20 of 20 tunnels in use, 5 connections waiting in line"
        );
        assert!(lines[3].starts_with("ID  CLIENT"), "{text}");
        assert!(
            lines[4].contains("web-1:22") && lines[4].ends_with("1m01s  58m59s  10 B  2.0 KiB"),
            "{text}"
        );
        // Columns line up: ENDPOINT starts at the same place on every row.
        let at = lines[3].find("ENDPOINT").unwrap();
        assert_eq!(&lines[4][at..at + 5], "eice-");
        assert_eq!(&lines[5][at..at + 5], "eice-");

        let empty = Status {
            tunnels: vec![],
            endpoints: vec![],
            ..status
        };
        assert_eq!(
            table(&empty),
            "eice-proxy 1.2.3, up 1h00m, 0 open tunnels\n"
        );
    }
}
