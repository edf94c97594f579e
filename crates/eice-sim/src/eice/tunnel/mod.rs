//! One open tunnel: connect to the instance, then copy frames both ways.
//!
//! Two tasks move data, one per direction, so a slow reader on one side never stalls
//! the other (and each holds at most one frame: back-pressure). A supervisor owns the
//! ending, because the ending is where EICE behaviour matters to the proxy:
//!
//! - client Close first: the target's write side is shut down, target data keeps
//!   flowing to the client until the target's EOF, then Close 1000;
//! - target EOF first: Close 1000 at once, client data keeps flowing to the target
//!   until the client's Close (or TCP EOF);
//! - `maxTunnelDuration` → Close 1008; text frame → 1003; broken framing → 1002/1009;
//!   unreachable or lost instance → 1011, and so is a path that security groups or
//!   network ACLs block (with the real service's reason, [`UNABLE_TO_CONNECT`]);
//! - a cut armed by a test ([`super::EiceSim::close_next_tunnel_after`]): after so
//!   many bytes to the client, the armed Close;
//! - no frame either way for the idle limit ([`super::EiceSimConfig::idle_timeout`])
//!   → Close 1008 with [`IDLE_TIMEOUT_REASON`];
//! - a service gone deaf ([`super::EiceSim::stop_answering_pings`]) answers no
//!   Ping and reads nothing more from the client.
//!
//! After a Close of its own that ends the tunnel early, the service lingers briefly for
//! the client's Close so that closing the socket never turns into a reset that could
//! destroy the Close frame in flight.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, Interval, timeout};
use tracing::debug;

use super::Shared;
use super::faults::TunnelCut;
use super::quota::Place;
use crate::ws::{self, FrameError, Opcode};

mod outbound;

use outbound::Outbound;

/// How long to wait for the client's Close after the service closed first.
const LINGER: Duration = Duration::from_secs(5);

/// How long connecting to the local listener may take before it counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The most one target read (so one binary frame) carries.
const READ_CHUNK: usize = 64 * 1024;

/// The Close 1011 reason the real service gives when the endpoint cannot reach the
/// target, e.g. because a security group or network ACL blocks the path.
pub const UNABLE_TO_CONNECT: &str = "Unable to connect to target";

/// How the Close 1008 reason of an idle tunnel begins (the seconds follow), in
/// the words of the service's `maxTunnelDuration` reason.
pub const IDLE_TIMEOUT_REASON: &str = "The tunnel was closed because it was idle";

/// A validated `openTunnel` request, ready to be served after the 101.
#[derive(Debug)]
pub(super) struct TunnelRequest {
    /// The `x-amzn-RequestId` of the handshake, for every log line.
    pub(super) request_id: String,
    /// `instanceConnectEndpointId`.
    pub(super) endpoint_id: String,
    /// `privateIpAddress:remotePort`, the key into the target table.
    pub(super) private: SocketAddr,
    /// The client's address (the WebSocket's peer), which an endpoint that
    /// preserves client IPs shows the instance.
    pub(super) client: IpAddr,
    /// `maxTunnelDuration`.
    pub(super) max_duration: Duration,
    /// Where a test wants the tunnel cut, if anywhere.
    pub(super) cut: Option<TunnelCut>,
    /// Its place under the endpoint's quota, given back as soon as the
    /// tunnel is over for the client (a Close either way, or the client gone).
    pub(super) place: Option<Place>,
}

/// What the direction tasks (and the clock) tell the supervisor.
#[derive(Debug)]
enum Event {
    /// The client sent Close (code, if any); its data is over and the target's write
    /// side has been shut down.
    ClientClosed(Option<u16>),
    /// The client's connection ended or failed without a Close.
    ClientGone,
    /// The client broke the protocol; close with this code and reason.
    Violation(u16, String),
    /// The target sent EOF.
    TargetEof,
    /// Reading from the target failed.
    TargetFailed(String),
    /// `maxTunnelDuration` elapsed.
    Deadline,
    /// No frame either way for the idle limit.
    Idle(Duration),
    /// The armed cut point was reached: close with this code and reason.
    Cut(u16, String),
}

/// Serves a tunnel on an upgraded connection until both sides are done.
pub(super) async fn run<S>(io: S, mut request: TunnelRequest, shared: Arc<Shared>)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let _active = ActiveTunnel::open(&shared);
    let (mut reader, writer) = tokio::io::split(io);
    let out = Outbound::new(Box::new(writer), Arc::clone(&shared));
    let target = match connect_target(&request, &shared).await {
        Ok(target) => target,
        Err(reason) => {
            debug!(request_id = %request.request_id, %reason, "tunnel target unreachable");
            let code = shared.faults().unreachable_code();
            let _ = out.close(code, &reason).await;
            release(&mut request.place);
            let _ = timeout(LINGER, drain_until_close(&mut reader)).await;
            return out.shutdown().await;
        }
    };
    debug!(request_id = %request.request_id, target = %request.private, "tunnel open");
    let (target_read, target_write) = target.into_split();
    let (events_tx, events) = mpsc::channel(4);
    let (stop_tx, stop) = watch::channel(false);
    let mut up = tokio::spawn(pump_client(
        reader,
        target_write,
        out.clone(),
        stop,
        events_tx.clone(),
    ));
    let down = tokio::spawn(pump_target(
        target_read,
        out.clone(),
        events_tx,
        request.cut.clone(),
        shared.cut_all.subscribe(),
    ));
    let limits = Limits {
        ping_interval: shared.ping_interval,
        enforce_max_duration: shared.enforce_max_duration.load(Ordering::Relaxed),
        idle: *shared
            .idle_timeout
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    };
    let mut place = request.place.take();
    let linger = supervise(events, &out, &request, limits, &mut place).await;
    release(&mut place);
    let _ = stop_tx.send(true);
    if linger {
        let _ = timeout(LINGER, &mut up).await;
    }
    up.abort();
    down.abort();
    out.shutdown().await;
    debug!(request_id = %request.request_id, "tunnel finished");
}

/// Gives the tunnel's place under the quota back, if it still holds one.
fn release(place: &mut Option<Place>) {
    if let Some(mut place) = place.take() {
        place.release();
    }
}

/// Counts a tunnel as active for as long as this lives.
struct ActiveTunnel(Arc<Shared>);

impl ActiveTunnel {
    fn open(shared: &Arc<Shared>) -> Self {
        shared.stats.update(|stats| {
            stats.tunnels_opened += 1;
            stats.tunnels_active += 1;
        });
        ActiveTunnel(Arc::clone(shared))
    }
}

impl Drop for ActiveTunnel {
    fn drop(&mut self) {
        self.0.stats.update(|stats| stats.tunnels_active -= 1);
    }
}

/// Connects to the listener standing for the instance; `Err` is the Close 1011 reason.
/// Only loopback listeners are used: the simulator must never reach the network.
async fn connect_target(request: &TunnelRequest, shared: &Shared) -> Result<TcpStream, String> {
    if let Some(blocked) =
        shared.blocked_path(&request.endpoint_id, request.private, request.client)
    {
        debug!(request_id = %request.request_id, %blocked, "tunnel path blocked");
        let reason = blocked.to_string();
        shared
            .stats
            .update(|stats| stats.paths_blocked.push(reason));
        return Err(UNABLE_TO_CONNECT.to_owned());
    }
    let failed =
        |why: &dyn std::fmt::Display| format!("Failed to connect to {}: {why}", request.private);
    let Some(local) = shared.target(request.private) else {
        return Err(failed(&"no route to host"));
    };
    if !local.ip().is_loopback() {
        return Err(failed(&"the simulator only connects to loopback listeners"));
    }
    match timeout(CONNECT_TIMEOUT, TcpStream::connect(local)).await {
        Ok(Ok(stream)) => {
            let _ = stream.set_nodelay(true);
            Ok(stream)
        }
        Ok(Err(error)) => Err(failed(&error.kind())),
        Err(_) => Err(failed(&"connection timed out")),
    }
}

/// The service's limits and habits for one tunnel, fixed when it opens.
#[derive(Debug, Clone, Copy)]
struct Limits {
    /// How often the service pings, if at all.
    ping_interval: Option<Duration>,
    /// Whether `maxTunnelDuration` ends the tunnel.
    enforce_max_duration: bool,
    /// How long the tunnel may carry no frame, if limited.
    idle: Option<Duration>,
}

/// Decides when the tunnel ends and with which Close; `true` when the service closed
/// first and should linger for the client's Close.
async fn supervise(
    mut events: mpsc::Receiver<Event>,
    out: &Outbound,
    request: &TunnelRequest,
    limits: Limits,
    place: &mut Option<Place>,
) -> bool {
    let deadline = tokio::time::sleep(request.max_duration);
    tokio::pin!(deadline);
    let idle = limits.idle.unwrap_or(request.max_duration);
    let quiet = tokio::time::sleep(idle);
    tokio::pin!(quiet);
    let mut pings = limits
        .ping_interval
        .map(|every| tokio::time::interval_at(Instant::now() + every, every));
    let (mut client_closed, mut target_eof) = (false, false);
    loop {
        let event = tokio::select! {
            event = events.recv() => event.unwrap_or(Event::ClientGone),
            () = &mut deadline, if limits.enforce_max_duration => Event::Deadline,
            () = &mut quiet, if limits.idle.is_some() => {
                // Frames went by since the timer was set: wait for the rest.
                let quiet_until = out.last_frame() + idle;
                if quiet_until > Instant::now() {
                    quiet.as_mut().reset(quiet_until);
                    continue;
                }
                Event::Idle(idle)
            }
            () = tick(&mut pings) => {
                let _ = out.ping().await;
                continue;
            }
        };
        debug!(request_id = %request.request_id, ?event, "tunnel event");
        // Every event ends the tunnel for the client or begins its end (a
        // Close read, or about to be sent; the client gone): its place under
        // the quota is free before the client can see anything of it.
        release(place);
        match event {
            Event::ClientClosed(code) => {
                debug!(request_id = %request.request_id, ?code, "client sent Close");
                if target_eof {
                    return false;
                }
                client_closed = true;
            }
            Event::TargetEof => {
                target_eof = true;
                let _ = out.close(1000, "").await;
                if client_closed {
                    return false;
                }
            }
            Event::ClientGone => return false,
            Event::Violation(code, reason) => return close_early(out, code, &reason).await,
            Event::TargetFailed(why) => {
                let reason = format!("Lost the connection to {}: {why}", request.private);
                return close_early(out, 1011, &reason).await;
            }
            Event::Cut(code, reason) => return close_early(out, code, &reason).await,
            Event::Idle(idle) => {
                out.count_idle_close();
                let reason = format!("{IDLE_TIMEOUT_REASON} for {} seconds.", idle.as_secs_f32());
                return close_early(out, 1008, &reason).await;
            }
            Event::Deadline => {
                let secs = request.max_duration.as_secs();
                let reason = format!(
                    "The tunnel was closed because it reached the maximum tunnel duration of {secs} seconds."
                );
                return close_early(out, 1008, &reason).await;
            }
        }
    }
}

async fn close_early(out: &Outbound, code: u16, reason: &str) -> bool {
    let _ = out.close(code, reason).await;
    true
}

/// The next ping time, or never.
async fn tick(pings: &mut Option<Interval>) {
    match pings {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Client → target. Ends at the client's Close, its EOF, or a framing error.
async fn pump_client<S: AsyncRead>(
    mut reader: ReadHalf<S>,
    target: OwnedWriteHalf,
    out: Outbound,
    mut stop: watch::Receiver<bool>,
    events: mpsc::Sender<Event>,
) {
    let mut target = Some(target);
    let mut refused_text = false;
    let end = loop {
        let frame = match ws::read_frame(&mut reader).await {
            Ok(Some(frame)) => frame,
            Ok(None) | Err(FrameError::Io(_)) => break Event::ClientGone,
            Err(error) => break Event::Violation(error.close_code(), error.to_string()),
        };
        out.touch();
        match frame.opcode {
            Opcode::Binary | Opcode::Continuation => {
                out.count_from_client(frame.payload.len());
                if !refused_text {
                    forward(&mut target, &frame.payload, &mut stop).await;
                }
            }
            Opcode::Text if !refused_text => {
                refused_text = true;
                let reason =
                    "Text frames are not supported; the tunnel accepts only binary frames.";
                let _ = events.send(Event::Violation(1003, reason.to_owned())).await;
            }
            Opcode::Text => {}
            Opcode::Ping if out.ping_received() => {
                let _ = out.pong(&frame.payload).await;
            }
            Opcode::Ping => {
                // Deaf: as if the connection had been dropped on the way.
                let _ = stop.wait_for(|stopping| *stopping).await;
                return;
            }
            Opcode::Pong => out.count_pong(),
            Opcode::Close => {
                if let Some(mut writer) = target.take() {
                    let _ = writer.shutdown().await;
                }
                break Event::ClientClosed(ws::parse_close(&frame.payload).map(|(code, _)| code));
            }
        }
    };
    let _ = events.send(end).await;
}

/// Writes client data to the target, unless the tunnel is ending. A target that no
/// longer accepts data has its writer dropped: later data is discarded, as a closed
/// socket would.
async fn forward(
    target: &mut Option<OwnedWriteHalf>,
    data: &[u8],
    stop: &mut watch::Receiver<bool>,
) {
    let Some(writer) = target else { return };
    let written = tokio::select! {
        result = writer.write_all(data) => result,
        _ = stop.wait_for(|stopping| *stopping) => return,
    };
    if written.is_err() {
        *target = None;
    }
}

/// Target → client, one binary frame per read. Ends at the target's EOF or error,
/// when the client can no longer be written to, or at the armed cut point (whose
/// data is sent before the supervisor hears of it, so it precedes the Close), or
/// when a test cuts every open tunnel.
async fn pump_target(
    mut target: OwnedReadHalf,
    out: Outbound,
    events: mpsc::Sender<Event>,
    cut: Option<TunnelCut>,
    mut cut_all: watch::Receiver<Option<(u16, String)>>,
) {
    // Room for the frame header first, so each read becomes a frame in place.
    let mut buf = vec![0u8; ws::HEADER_ROOM + READ_CHUNK];
    let mut budget = cut.as_ref().map(|cut| cut.after_bytes);
    let end = loop {
        if budget == Some(0) {
            let cut = cut.expect("a budget comes from a cut");
            break Event::Cut(cut.code, cut.reason);
        }
        let read = tokio::select! {
            read = target.read(&mut buf[ws::HEADER_ROOM..]) => read,
            Ok(()) = cut_all.changed() => {
                if let Some((code, reason)) = cut_all.borrow_and_update().clone() {
                    break Event::Cut(code, reason);
                }
                continue;
            }
        };
        match read {
            Ok(0) => break Event::TargetEof,
            Ok(n) => {
                let n = budget.map_or(n, |left| n.min(usize::try_from(left).unwrap_or(n)));
                budget = budget.map(|left| left - n as u64);
                match out.data(&mut buf, n).await {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(_) => break Event::ClientGone,
                }
            }
            Err(error) => break Event::TargetFailed(error.kind().to_string()),
        }
    };
    let _ = events.send(end).await;
}

/// Reads and discards client frames until its Close or the end of the stream.
async fn drain_until_close<R: AsyncRead + Unpin>(reader: &mut R) {
    while let Ok(Some(frame)) = ws::read_frame(reader).await {
        if frame.opcode == Opcode::Close {
            break;
        }
    }
}
