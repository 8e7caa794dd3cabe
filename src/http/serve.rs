//! Serving connections: HTTP/1.1 on the server's TCP listener, with the bounds that keep idle
//! and slow clients from taking the server down.
//!
//! - **Caps.** At most `server.max_connections` connections in all (lowered at start to what
//!   the process's open-file limit leaves after the database and the sends), and at most
//!   `server.max_connections_per_address` from one client address (an IPv6 client counts by
//!   its /64, which one client usually holds whole; never more than a quarter of the total).
//!   A connection over its address's cap is answered at once, `429 too_many_connections`,
//!   and closed. When every place is taken, the oldest connection that is not in a request
//!   (still sending its first request's head, or idle between requests) from the address
//!   holding the most is closed to make room, so a newcomer gets in while a few addresses
//!   flood; only when none can go is the newcomer answered `503 server_busy`. Connections
//!   from `server.trusted_proxies` (a load balancer) count only towards the total.
//! - **Timeouts.** A new connection has `server.header_timeout_seconds` to send its first
//!   request's headers, and so does each request from its first byte; between requests a
//!   kept-alive connection may sit idle `server.keep_alive_seconds`. Past either it is
//!   closed. (hyper keeps one timer for the headers and the idle time; [`HeadTimer`] decides
//!   which of the two applies, from what the connection did.) The body and the handler are
//!   bounded by `server.request_timeout_seconds` (see [`super::timeouts`]).
//!
//! Only HTTP/1.1 is spoken: every client Rateline serves (platforms, connectors, browsers
//! through a TLS-terminating proxy) speaks it, and HTTP/2 without TLS would add a
//! connection preface that no timeout above covers.

use rateline_domain::ErrorCode;
use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::rt::{Sleep, Timer};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use ipnet::IpNet;
use rateline_domain::ClientAddress;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::metrics::Metrics;

/// How the server bounds its connections (see the module's docs).
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Connections open at once, from everyone (`server.max_connections`).
    pub max_connections: usize,
    /// Connections open at once from one address (`server.max_connections_per_address`).
    pub max_per_address: usize,
    /// How long a connection may take to send a request's headers
    /// (`server.header_timeout_seconds`).
    pub header_timeout: Duration,
    /// How long an idle kept-alive connection stays open (`server.keep_alive_seconds`).
    pub keep_alive: Duration,
    /// Proxies whose `X-Forwarded-For` names the client (`server.trusted_proxies`).
    pub trusted_proxies: Arc<[IpNet]>,
}

impl ConnectionLimits {
    /// Whether `ip` is a trusted proxy's.
    pub fn trusted(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|n| n.contains(&ip))
    }
}

/// The client behind a request: the TCP peer, or, when the peer is a trusted proxy, the
/// nearest address in `X-Forwarded-For` that is not one of the proxies. Rate limits and
/// stream caps count by it.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub IpAddr);

/// The client of a request from `peer` carrying `headers`.
pub fn client_addr(
    peer: IpAddr,
    headers: &axum::http::HeaderMap,
    limits: &ConnectionLimits,
) -> IpAddr {
    if !limits.trusted(peer) {
        return peer;
    }
    // The rightmost entry that no trusted proxy wrote: everything left of it is the
    // client's word, everything right of it the proxies'.
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .filter_map(|a| a.parse::<IpAddr>().ok())
        .find(|a| !limits.trusted(*a))
        .unwrap_or(peer)
}

/// The connections open now, in all and per address, and each one's place, so that a full
/// server can make room for a newcomer.
#[derive(Default)]
struct Open {
    state: Mutex<OpenState>,
}

#[derive(Default)]
struct OpenState {
    total: usize,
    /// Connections per address (a trusted proxy's under its own), for the per-address cap
    /// and for choosing whose connection makes room.
    per_address: HashMap<ClientAddress, usize>,
    connections: HashMap<u64, Held>,
    next_id: u64,
}

/// One open connection, as [`Open`] knows it.
struct Held {
    address: ClientAddress,
    opened: Instant,
    activity: Arc<Activity>,
    /// Cancelled to close the connection to make room.
    close: CancellationToken,
}

impl OpenState {
    /// Forgets connection `id`, if it is still counted; whether it was.
    fn forget(&mut self, id: u64) -> bool {
        let Some(held) = self.connections.remove(&id) else {
            return false;
        };
        self.total -= 1;
        if let Some(n) = self.per_address.get_mut(&held.address) {
            *n -= 1;
            if *n == 0 {
                self.per_address.remove(&held.address);
            }
        }
        true
    }

    /// Makes room when every place is taken: closes the oldest connection that is not in a
    /// request (one still sending its first request's head, or idle between requests) of the
    /// address holding the most connections that has one (among equals, the oldest such
    /// connection of all). One pass over the connections. Whether a place was freed.
    fn make_room(&mut self) -> bool {
        let held = |a: &ClientAddress| self.per_address.get(a).copied().unwrap_or(0);
        let chosen = self
            .connections
            .iter()
            .filter(|(_, h)| !h.activity.in_request())
            .max_by(|(a_id, a), (b_id, b)| {
                held(&a.address)
                    .cmp(&held(&b.address))
                    .then(b.opened.cmp(&a.opened))
                    .then(b_id.cmp(a_id))
            })
            .map(|(id, _)| *id);
        let Some(id) = chosen else {
            return false;
        };
        if let Some(held) = self.connections.get(&id) {
            held.close.cancel();
        }
        self.forget(id)
    }
}

/// Holds a connection's place under the caps; gives it back when dropped.
struct Admitted {
    open: Arc<Open>,
    id: u64,
    /// Cancelled when the connection must close to make room for another.
    close: CancellationToken,
    metrics: Arc<Metrics>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        // A connection closed to make room was forgotten then.
        self.open
            .state
            .lock()
            .expect("connections lock")
            .forget(self.id);
        self.metrics.connections_open.dec();
    }
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    ServerBusy,
    AddressBusy,
}

impl Open {
    fn admit(
        self: &Arc<Self>,
        peer: IpAddr,
        activity: &Arc<Activity>,
        limits: &ConnectionLimits,
        metrics: &Arc<Metrics>,
    ) -> Result<Admitted, Refusal> {
        let address = ClientAddress::of(peer);
        let mut state = self.state.lock().expect("connections lock");
        let held = state.per_address.get(&address).copied().unwrap_or(0);
        // A trusted proxy's connections count only towards the total.
        if !limits.trusted(peer) && held >= limits.max_per_address {
            return Err(Refusal::AddressBusy);
        }
        if state.total >= limits.max_connections {
            if !state.make_room() {
                return Err(Refusal::ServerBusy);
            }
            metrics.connections_evicted.inc();
        }
        let id = state.next_id;
        state.next_id += 1;
        let close = CancellationToken::new();
        state.connections.insert(
            id,
            Held {
                address,
                opened: Instant::now(),
                activity: activity.clone(),
                close: close.clone(),
            },
        );
        state.total += 1;
        *state.per_address.entry(address).or_insert(0) += 1;
        drop(state);
        metrics.connections_open.inc();
        Ok(Admitted {
            open: self.clone(),
            id,
            close,
            metrics: metrics.clone(),
        })
    }
}

/// The answer a refused connection gets before it is closed.
fn refusal_response(refusal: Refusal, limits: &ConnectionLimits) -> Vec<u8> {
    let wait = limits.header_timeout.as_secs().max(1);
    let (code, message) = match refusal {
        Refusal::ServerBusy => (
            ErrorCode::ServerBusy,
            format!(
                "the server holds its most connections ({}, server.max_connections); try again shortly",
                limits.max_connections
            ),
        ),
        Refusal::AddressBusy => (
            ErrorCode::TooManyConnections,
            format!(
                "this address holds the most connections one address may ({}, \
                 server.max_connections_per_address); close some or try again shortly",
                limits.max_per_address
            ),
        ),
    };
    let status = super::error::status_of(code);
    let status = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or_default()
    );
    let body = serde_json::json!({"error": {"code": code, "message": message}}).to_string();
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\nretry-after: {wait}\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Refused connections being answered at once; past this many they are closed unanswered,
/// so a flood of them costs no more than closing them.
const ANSWERING_REFUSALS: usize = 1024;

/// Answers a refused connection and closes it, without waiting on it for long.
fn refuse(stream: TcpStream, answer: Vec<u8>, answering: &Arc<AtomicUsize>) {
    if answering.fetch_add(1, Ordering::Relaxed) >= ANSWERING_REFUSALS {
        answering.fetch_sub(1, Ordering::Relaxed);
        return;
    }
    let answering = answering.clone();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = stream;
        let bounded = Duration::from_secs(1);
        if tokio::time::timeout(bounded, stream.write_all(&answer))
            .await
            .is_ok_and(|w| w.is_ok())
        {
            let _ = stream.shutdown().await;
            // Read what the client sent, so closing does not reset the connection before
            // the client has read the answer.
            let mut sink = [0u8; 4096];
            let _ = tokio::time::timeout(bounded, async {
                while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
            })
            .await;
        }
        answering.fetch_sub(1, Ordering::Relaxed);
    });
}

/// Serves `app` on `listener` until `stop`, then lets the requests in flight finish.
///
/// One piece: the accept loop with its limits, timeouts and drain in one place, so the order in
/// which a connection meets them reads top to bottom.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let open = Arc::new(Open::default());
    let answering = Arc::new(AtomicUsize::new(0));
    let graceful = GracefulShutdown::new();
    let limits = Arc::new(limits);
    let mut accept_errors = 0u64;
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was taken:
                    // pause a moment rather than spin, and say so now and then.
                    accept_errors += 1;
                    if accept_errors.is_power_of_two() {
                        tracing::warn!(error = %e, errors = accept_errors, "could not accept a connection");
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.cancelled() => break,
        };
        let activity = Arc::new(Activity::default());
        let admitted = match open.admit(peer.ip(), &activity, &limits, &metrics) {
            Ok(a) => a,
            Err(refusal) => {
                let reason = match refusal {
                    Refusal::ServerBusy => "server_busy",
                    Refusal::AddressBusy => "address_busy",
                };
                metrics
                    .connections_refused
                    .get_or_create(&vec![("reason", reason.to_owned())])
                    .inc();
                refuse(stream, refusal_response(refusal, &limits), &answering);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(Watched {
            inner: stream,
            activity: activity.clone(),
        });
        let limits_here = limits.clone();
        let (app_here, activity_here) = (app.clone(), activity.clone());
        let service = tower::service_fn(move |req: axum::http::Request<Incoming>| {
            let mut req = req.map(Body::new);
            let client = client_addr(peer.ip(), req.headers(), &limits_here);
            req.extensions_mut().insert(ConnectInfo(peer));
            req.extensions_mut().insert(ClientAddr(client));
            // In a request from its head until its response's last byte (a widget's live
            // connection, for as long as it lasts): such a connection is never closed to
            // make room.
            let busy = InRequest::start(&activity_here);
            let app = app_here.clone();
            async move {
                let response = app.oneshot(req).await?;
                Ok::<_, std::convert::Infallible>(response.map(|body| {
                    Body::new(body.map_frame(move |frame| {
                        let _ = &busy;
                        frame
                    }))
                }))
            }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(HeadTimer {
                activity,
                header: limits.header_timeout,
                keep_alive: limits.keep_alive,
            })
            // The timer picks the real deadline; this only switches hyper's timer on.
            .header_read_timeout(limits.header_timeout.max(limits.keep_alive));
        let connection =
            graceful.watch(builder.serve_connection(io, TowerToHyperService::new(service)));
        let metrics = metrics.clone();
        tokio::spawn(async move {
            tokio::select! {
                ended = connection => {
                    if let Err(e) = ended {
                        if e.is_timeout() {
                            metrics.connections_timed_out.inc();
                        }
                        tracing::debug!(error = %e, %peer, "connection ended");
                    }
                }
                // Dropping the connection closes it.
                _ = admitted.close.cancelled() => {
                    tracing::debug!(%peer, "connection closed to make room for another");
                }
            }
            drop(admitted);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// What a connection's [`HeadTimer`] and [`Open`] need to know of it.
#[derive(Debug, Default)]
struct Activity {
    /// Reads that brought bytes.
    reads: AtomicU64,
    /// Whether a response was written: the connection is then between requests.
    served: AtomicBool,
    /// Requests whose head has arrived and whose response has not ended.
    in_request: AtomicUsize,
}

impl Activity {
    fn in_request(&self) -> bool {
        self.in_request.load(Ordering::Relaxed) > 0
    }
}

/// A request in progress on a connection, from its head until its response's body is
/// dropped (sent, or given up).
struct InRequest(Arc<Activity>);

impl InRequest {
    fn start(activity: &Arc<Activity>) -> Self {
        activity.in_request.fetch_add(1, Ordering::Relaxed);
        Self(activity.clone())
    }
}

impl Drop for InRequest {
    fn drop(&mut self) {
        self.0.in_request.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The connection's stream, noting its reads and writes for [`HeadTimer`].
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.reads.fetch_add(1, Ordering::Relaxed);
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.served.store(true, Ordering::Relaxed);
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.served.store(true, Ordering::Relaxed);
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// hyper's timer for a connection's request heads. hyper starts it when it waits for a
/// request (a new connection, or one back between requests) and stops it once the headers
/// are in; this timer picks the deadline from what the connection did meanwhile:
/// - bytes of a request arrived: `header` from the first of them;
/// - nothing yet on a connection that has served a request: `keep_alive` (it is idle);
/// - nothing yet on a new connection: `header` (it must start with a request).
#[derive(Clone)]
struct HeadTimer {
    activity: Arc<Activity>,
    header: Duration,
    keep_alive: Duration,
}

impl Timer for HeadTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        self.sleep_until(Instant::now() + duration)
    }

    fn sleep_until(&self, _hyper_deadline: Instant) -> Pin<Box<dyn Sleep>> {
        let armed = Instant::now();
        let idle = if self.activity.served.load(Ordering::Relaxed) {
            self.keep_alive
        } else {
            self.header
        };
        Box::pin(HeadSleep {
            activity: self.activity.clone(),
            reads_when_armed: self.activity.reads.load(Ordering::Relaxed),
            first_read: None,
            header: self.header,
            sleep: Box::pin(tokio::time::sleep_until(tokio::time::Instant::from_std(
                armed + idle,
            ))),
        })
    }
}

struct HeadSleep {
    activity: Arc<Activity>,
    reads_when_armed: u64,
    first_read: Option<Instant>,
    header: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl Future for HeadSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // hyper polls this whenever it reads and still lacks the headers, so the first
        // poll after bytes came is within moments of their arrival.
        if self.first_read.is_none()
            && self.activity.reads.load(Ordering::Relaxed) > self.reads_when_armed
        {
            let now = Instant::now();
            self.first_read = Some(now);
            let deadline = now + self.header;
            self.sleep
                .as_mut()
                .reset(tokio::time::Instant::from_std(deadline));
        }
        self.sleep.as_mut().poll(cx)
    }
}

impl Sleep for HeadSleep {}

/// `max_connections`, lowered to what the open-file limit leaves: the database pool, the
/// sends in flight and some files need descriptors too, and an `accept` that fails for
/// want of one takes the whole server down with it.
pub fn fit_to_file_limit(
    wanted: usize,
    file_limit: Option<u64>,
    reserved: usize,
) -> (usize, Option<String>) {
    let Some(limit) = file_limit else {
        return (wanted, None);
    };
    let room = usize::try_from(limit)
        .unwrap_or(usize::MAX)
        .saturating_sub(reserved);
    if room >= wanted {
        return (wanted, None);
    }
    let fitted = room.max(16);
    (
        fitted,
        Some(format!(
            "server.max_connections lowered from {wanted} to {fitted}: the open-file limit is \
             {limit} and {reserved} are kept for the database, the sends and files; raise the \
             limit (LimitNOFILE, ulimit -n) to allow more"
        )),
    )
}

/// `max_connections_per_address`, lowered to a quarter of the total: one address must never
/// hold the whole server (the total may itself have been lowered to the open-file limit).
pub fn fit_per_address(wanted: usize, total: usize) -> (usize, Option<String>) {
    let quarter = (total / 4).max(1);
    if wanted <= quarter {
        return (wanted, None);
    }
    (
        quarter,
        Some(format!(
            "server.max_connections_per_address lowered from {wanted} to {quarter}: one address \
             may hold at most a quarter of server.max_connections ({total})"
        )),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_address: usize, total: usize, trusted: &[&str]) -> ConnectionLimits {
        ConnectionLimits {
            max_connections: total,
            max_per_address: per_address,
            header_timeout: Duration::from_secs(1),
            keep_alive: Duration::from_secs(5),
            trusted_proxies: trusted.iter().map(|n| n.parse().unwrap()).collect(),
        }
    }

    /// Admits a connection from `ip` that is idle (not in a request).
    fn admit(
        open: &Arc<Open>,
        ip: &str,
        l: &ConnectionLimits,
        metrics: &Arc<Metrics>,
    ) -> Result<Admitted, Refusal> {
        let activity = Arc::new(Activity::default());
        open.admit(ip.parse().unwrap(), &activity, l, metrics)
    }

    #[test]
    fn the_caps_count_per_address_and_in_all_and_give_places_back() {
        let open = Arc::new(Open::default());
        let metrics = Arc::new(Metrics::default());
        let l = limits(2, 3, &["10.0.0.1/32"]);
        let first = admit(&open, "192.0.2.1", &l, &metrics).unwrap();
        let _second = admit(&open, "192.0.2.1", &l, &metrics).unwrap();
        assert_eq!(
            admit(&open, "192.0.2.1", &l, &metrics).err(),
            Some(Refusal::AddressBusy)
        );
        drop(first);
        assert!(
            admit(&open, "192.0.2.1", &l, &metrics).is_ok(),
            "a place given back is free again"
        );
        // A whole IPv6 /64 is one address.
        let l = limits(1, 10, &[]);
        let _x = admit(&open, "2001:db8::1", &l, &metrics).unwrap();
        assert_eq!(
            admit(&open, "2001:db8::2", &l, &metrics).err(),
            Some(Refusal::AddressBusy)
        );
    }

    #[test]
    fn a_full_server_closes_the_oldest_idle_connection_of_the_address_holding_the_most() {
        let open = Arc::new(Open::default());
        let metrics = Arc::new(Metrics::default());
        let l = limits(3, 5, &[]);
        let a1 = admit(&open, "192.0.2.1", &l, &metrics).unwrap();
        let a2 = admit(&open, "192.0.2.1", &l, &metrics).unwrap();
        let a3 = admit(&open, "192.0.2.1", &l, &metrics).unwrap();
        let b1 = admit(&open, "192.0.2.2", &l, &metrics).unwrap();
        let _b2 = admit(&open, "192.0.2.2", &l, &metrics).unwrap();
        // The oldest of the address holding the most is in a request: the next one goes.
        let busy = InRequest::start(&open_activity(&open, a1.id));
        let _c = admit(&open, "192.0.2.3", &l, &metrics).unwrap();
        assert!(!a1.close.is_cancelled(), "a connection in a request stays");
        assert!(
            a2.close.is_cancelled(),
            "the oldest idle one of 192.0.2.1 goes"
        );
        assert!(!a3.close.is_cancelled() && !b1.close.is_cancelled());
        assert_eq!(metrics.connections_evicted.get(), 1);
        drop(a2);
        // Now 192.0.2.1 and .2 hold two each; with every connection in a request, a
        // newcomer is told the server is busy.
        let _busy: Vec<InRequest> = [a3.id, b1.id, _b2.id, _c.id]
            .iter()
            .map(|id| InRequest::start(&open_activity(&open, *id)))
            .collect();
        assert_eq!(
            admit(&open, "192.0.2.4", &l, &metrics).err(),
            Some(Refusal::ServerBusy)
        );
        drop(busy);
        assert!(admit(&open, "192.0.2.4", &l, &metrics).is_ok());
        assert!(a1.close.is_cancelled(), "its request over, it could go");
    }

    fn open_activity(open: &Arc<Open>, id: u64) -> Arc<Activity> {
        open.state.lock().unwrap().connections[&id].activity.clone()
    }

    #[test]
    fn one_address_holds_at_most_a_quarter_of_the_total() {
        assert_eq!(fit_per_address(256, 10_000), (256, None));
        let (n, why) = fit_per_address(256, 176);
        assert_eq!(n, 44);
        assert!(why.unwrap().contains("lowered from 256 to 44"));
        assert_eq!(fit_per_address(256, 2).0, 1);
    }

    #[test]
    fn behind_a_trusted_proxy_the_client_is_the_nearest_untrusted_forwarded_address() {
        let l = limits(1, 1, &["10.0.0.0/8"]);
        let mut h = axum::http::HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            "1.1.1.1, 203.0.113.9, 10.0.0.7".parse().unwrap(),
        );
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!(
            client_addr(proxy, &h, &l),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        // From anyone else the header is the client's word and counts for nothing.
        let direct: IpAddr = "198.51.100.4".parse().unwrap();
        assert_eq!(client_addr(direct, &h, &l), direct);
        assert_eq!(client_addr(proxy, &axum::http::HeaderMap::new(), &l), proxy);
    }

    #[test]
    fn the_total_fits_the_open_file_limit() {
        assert_eq!(fit_to_file_limit(10_000, Some(1_048_576), 300).0, 10_000);
        let (n, why) = fit_to_file_limit(10_000, Some(1024), 300);
        assert_eq!(n, 724);
        assert!(why.unwrap().contains("lowered from 10000 to 724"));
        assert_eq!(fit_to_file_limit(10_000, Some(100), 300).0, 16);
    }
}
