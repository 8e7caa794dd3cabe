//! Serving connections: HTTP/1.1 on the server's TCP listener, with the bounds that keep idle
//! and slow clients from taking the server down.
//!
//! - **Caps.** At most `server.max_connections` connections in all (lowered at start to what
//!   the process's open-file limit leaves after the database and the sends), and at most
//!   `server.max_connections_per_address` from one client address (an IPv6 client counts by
//!   its /64, which one client usually holds whole). A connection over a cap is answered at
//!   once, `429 too_many_connections` (its address's) or `503 server_busy` (the server's),
//!   and closed. Connections from `server.trusted_proxies` (a load balancer) count only
//!   towards the total.
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
use hyper::body::Incoming;
use hyper::rt::{Sleep, Timer};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use ipnet::IpNet;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::metrics::Metrics;

/// How the server bounds its connections (see the module's docs).
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub max_per_address: usize,
    pub header_timeout: Duration,
    pub keep_alive: Duration,
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

/// What counts towards the per-address cap: an IPv4 address, or an IPv6 /64.
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// The connections open now, in all and per address.
#[derive(Default)]
struct Open {
    total: AtomicUsize,
    per_address: Mutex<HashMap<IpAddr, usize>>,
}

/// Holds a connection's place under the caps; gives it back when dropped.
struct Admitted {
    open: Arc<Open>,
    key: Option<IpAddr>,
    metrics: Arc<Metrics>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.open.total.fetch_sub(1, Ordering::Relaxed);
        if let Some(key) = self.key {
            let mut per = self.open.per_address.lock().expect("connections lock");
            if let Some(n) = per.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    per.remove(&key);
                }
            }
        }
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
        limits: &ConnectionLimits,
        metrics: &Arc<Metrics>,
    ) -> Result<Admitted, Refusal> {
        if self.total.fetch_add(1, Ordering::Relaxed) >= limits.max_connections {
            self.total.fetch_sub(1, Ordering::Relaxed);
            return Err(Refusal::ServerBusy);
        }
        let key = (!limits.trusted(peer)).then(|| address_key(peer));
        if let Some(key) = key {
            let mut per = self.per_address.lock().expect("connections lock");
            let n = per.entry(key).or_insert(0);
            if *n >= limits.max_per_address {
                drop(per);
                self.total.fetch_sub(1, Ordering::Relaxed);
                return Err(Refusal::AddressBusy);
            }
            *n += 1;
        }
        metrics.connections_open.inc();
        Ok(Admitted {
            open: self.clone(),
            key,
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
    let status = super::status_of(code);
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
        let admitted = match open.admit(peer.ip(), &limits, &metrics) {
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
        let activity = Arc::new(Activity::default());
        let io = TokioIo::new(Watched {
            inner: stream,
            activity: activity.clone(),
        });
        let limits_here = limits.clone();
        let service = app
            .clone()
            .map_request(move |req: axum::http::Request<Incoming>| {
                let mut req = req.map(Body::new);
                let client = client_addr(peer.ip(), req.headers(), &limits_here);
                req.extensions_mut().insert(ConnectInfo(peer));
                req.extensions_mut().insert(ClientAddr(client));
                req
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
            if let Err(e) = connection.await {
                if e.is_timeout() {
                    metrics.connections_timed_out.inc();
                }
                tracing::debug!(error = %e, %peer, "connection ended");
            }
            drop(admitted);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// What a connection's [`HeadTimer`] needs to know of it.
#[derive(Debug, Default)]
struct Activity {
    /// Reads that brought bytes.
    reads: AtomicU64,
    /// Whether a response was written: the connection is then between requests.
    served: AtomicBool,
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

    #[test]
    fn the_caps_count_per_address_and_in_all_and_give_places_back() {
        let open = Arc::new(Open::default());
        let metrics = Arc::new(Metrics::default());
        let l = limits(2, 3, &["10.0.0.1/32"]);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = open.admit(a, &l, &metrics).unwrap();
        let _second = open.admit(a, &l, &metrics).unwrap();
        assert_eq!(
            open.admit(a, &l, &metrics).err(),
            Some(Refusal::AddressBusy)
        );
        let _third = open.admit(b, &l, &metrics).unwrap();
        assert_eq!(open.admit(b, &l, &metrics).err(), Some(Refusal::ServerBusy));
        drop(first);
        assert!(
            open.admit(a, &l, &metrics).is_ok(),
            "a place given back is free again"
        );
        // A whole IPv6 /64 is one address.
        let l = limits(1, 10, &[]);
        let _x = open
            .admit("2001:db8::1".parse().unwrap(), &l, &metrics)
            .unwrap();
        assert_eq!(
            open.admit("2001:db8::2".parse().unwrap(), &l, &metrics)
                .err(),
            Some(Refusal::AddressBusy)
        );
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
