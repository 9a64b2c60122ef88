//! The HTTP serving: the accept loop (hyper http1 with a header read timeout, graceful drain,
//! then the dispatcher) and the per-connection `Dispatch` service, which answers the
//! operations endpoints, authenticates and hands a channel's request straight to its dialect,
//! and sends everything else through the router (`super::routes`).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

use crate::channel::auth::Denied;
use crate::channel::{Channel, ChannelRequest, HopSink};

use super::{App, AppState, router};

/// Serves `app` on `listener` until `shutdown` resolves, then lets in-flight requests finish.
pub async fn serve(listener: TcpListener, app: App, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
    // Beyond loopback every channel must say who may call it.
    let local = listener.local_addr()?;
    if !local.ip().is_loopback() {
        let mut open: Vec<&str> =
            app.state.channels.iter().filter(|c| !c.auth.is_configured()).map(|c| &*c.name).collect();
        open.sort_unstable();
        if !open.is_empty() {
            return Err(std::io::Error::other(format!(
                "refusing to listen on {local}: channel(s) {} have no authentication; add header, basic or allow to \
                 their [channels.NAME] sections, or listen on 127.0.0.1",
                open.join(", ")
            )));
        }
    }
    let router = router(&app);
    let (stop_tx, stop_rx) = watch::channel(false);
    // SIGHUP is the live server's: a sandbox beside it (the console's) has no reloader of its
    // own, so one signal is one reload, counted and logged once.
    let hangups = (!app.beside_live).then(|| reload_on_hangup(Arc::clone(&app.state), stop_rx.clone()));
    // What the hub writes and tidies besides hops (see `hub::maintain`), while serving.
    let maintaining = {
        let state = Arc::downgrade(&app.state);
        tokio::spawn(crate::hub::maintain(
            move || state.upgrade().map(|s| s.hub()),
            !app.beside_live,
            app.retention_days,
        ))
    };
    let dispatcher = app.dispatcher.clone().map(|d| tokio::spawn(d.run(stop_rx, Arc::clone(&app.wake))));
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(app.header_read_timeout).keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Usually EMFILE under overload: back off briefly instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = Dispatch {
            peer: peer.ip(),
            local,
            router: router.clone(),
            state: Arc::clone(&app.state),
            max_body: app.max_body_bytes,
            read_timeout: app.header_read_timeout,
        };
        // hyper's own replies to what it cannot parse get a reason (see `autoreply`).
        let io = crate::autoreply::Reasoned::new(TokioIo::new(stream));
        let conn = builder.serve_connection(io, service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection closed with an error");
            }
        });
    }
    app.state.draining.store(true, std::sync::atomic::Ordering::Relaxed);
    tracing::info!("shutting down: finishing in-flight requests");
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(Duration::from_secs(10)) => tracing::warn!("shutdown timed out; dropping connections"),
    }
    // Writes made behind the last hops (services used, search misses) and the drop-off figures
    // counted since the last flush are not lost to a clean stop.
    maintaining.abort();
    let hub = app.state.hub();
    crate::hub::funnel::flush(&hub).await;
    crate::hub::usage::flush(&hub).await;
    hub.config.behind.settled(Duration::from_secs(5)).await;
    // Jobs in hand finish (or their leases expire and another dispatcher takes them over).
    let _ = stop_tx.send(true);
    if let Some(h) = hangups {
        h.abort();
    }
    if let Some(d) = dispatcher
        && tokio::time::timeout(Duration::from_secs(20), d).await.is_err()
    {
        tracing::warn!("dispatcher did not stop in time; its leased jobs will be taken over after the lease");
    }
    Ok(())
}

/// The per-connection service: USSD hops straight to their dialect's handler, everything
/// else through the axum router.
#[derive(Clone)]
struct Dispatch {
    /// The connection's remote address, for channel allow-lists.
    peer: std::net::IpAddr,
    /// The listener's own address: the console without credentials answers only on a
    /// loopback listener.
    local: std::net::SocketAddr,
    router: Router,
    state: Arc<AppState>,
    max_body: usize,
    read_timeout: Duration,
}

impl hyper::service::Service<hyper::Request<Incoming>> for Dispatch {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = crate::BoxFuture<'static, Result<Response, Self::Error>>;

    fn call(&self, req: hyper::Request<Incoming>) -> Self::Future {
        if crate::ops::serves(req.uri().path()) {
            let state = Arc::clone(&self.state);
            let peer = self.peer;
            return Box::pin(async move {
                let path = req.uri().path().to_owned();
                Ok(crate::ops::handle(state.ops(), peer, req.method().clone(), &path, req.headers()).await)
            });
        }
        let Some((ch, rest)) = self.state.channels.find(req.uri().path()) else {
            let router = self.router.clone();
            // What the router serves may judge the caller by address (the console answers
            // loopback only without credentials): the peer rides along as axum's `ConnectInfo`,
            // and the address the listener is bound to as `ListenAddr`.
            let mut req = req.map(axum::body::Body::new);
            req.extensions_mut().insert(axum::extract::ConnectInfo(self.peer));
            req.extensions_mut().insert(super::ListenAddr(self.local));
            return Box::pin(async move { router.oneshot(req).await });
        };
        if let Err(why) = ch.auth.check(req.headers(), self.peer) {
            self.state.denied.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            crate::metrics::METRICS.denied.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let client = ch.auth.client_ip(req.headers(), self.peer);
            tracing::warn!(channel = %ch.name, client = %client, reason = ?why, "request refused by channel authentication");
            let refused = match why {
                Denied::Credentials => (StatusCode::UNAUTHORIZED, "unauthorized\n"),
                Denied::Address => (StatusCode::FORBIDDEN, "forbidden\n"),
            };
            return Box::pin(async move { Ok(refused.into_response()) });
        }
        let ch = Arc::clone(ch);
        let rest = rest.to_owned();
        let state = Arc::clone(&self.state);
        let max = self.max_body;
        let read_timeout = self.read_timeout;
        Box::pin(async move {
            let started = std::time::Instant::now();
            let metrics = Arc::clone(&ch.metrics);
            let response = Self::answer(state, ch, rest, req, max, read_timeout).await;
            metrics.answered(response.status().as_u16(), started.elapsed());
            Ok(response)
        })
    }
}

impl Dispatch {
    /// Reads a channel request's body (size- and time-limited) and hands it to the dialect.
    async fn answer(
        state: Arc<AppState>,
        ch: Arc<Channel>,
        rest: String,
        req: hyper::Request<Incoming>,
        max: usize,
        read_timeout: Duration,
    ) -> Response {
        let (parts, body) = req.into_parts();
        // A body that trickles in is cut off like slow headers are. A telco's small form has
        // almost always arrived with its headers: the first read takes it without arming a
        // timer, and only a body still on its way gets one.
        let mut reading = std::pin::pin!(read_body(body, max));
        let read = match std::future::poll_fn(|cx| std::task::Poll::Ready(reading.as_mut().poll(cx))).await {
            std::task::Poll::Ready(read) => read,
            std::task::Poll::Pending => match tokio::time::timeout(read_timeout, reading).await {
                Ok(read) => read,
                Err(_) => return (StatusCode::REQUEST_TIMEOUT, "request body too slow\n").into_response(),
            },
        };
        let body = match read {
            Ok(body) => body,
            Err(BodyError::TooLarge) => {
                return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n").into_response();
            }
            Err(BodyError::Unreadable(e)) => {
                tracing::debug!(error = %e, "request body could not be read");
                return (StatusCode::BAD_REQUEST, "request body could not be read\n").into_response();
            }
        };
        let query = parts.uri.query().unwrap_or_default().to_owned();
        let request = ChannelRequest { method: parts.method, rest, query, body };
        // The hub is taken once, after the body is in: the request runs on it whole.
        (ch.dialect.handle)(HopSink::new(state.hub()), ch, request).await
    }
}

/// Why a channel request's body was not read.
enum BodyError {
    /// Longer than the server's `max_body_bytes`.
    TooLarge,
    Unreadable(hyper::Error),
}

/// Reads a whole body of at most `max` bytes (trailers are not kept). A telco's small form
/// arrives in one frame, which is kept as it came; only a body in several frames is copied
/// into one. `Limited` and `collect` did the same through a queue of frames, allocated for
/// every request, and a copy out of it.
async fn read_body(mut body: Incoming, max: usize) -> Result<Bytes, BodyError> {
    let mut read = 0usize;
    let mut first: Option<Bytes> = None;
    let mut joined = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(BodyError::Unreadable)?.into_data() else { continue };
        read += data.len();
        if read > max {
            return Err(BodyError::TooLarge);
        }
        match &first {
            None => first = Some(data),
            Some(f) => {
                if joined.is_empty() {
                    joined.extend_from_slice(f);
                }
                joined.extend_from_slice(&data);
            }
        }
    }
    Ok(if joined.is_empty() { first.unwrap_or_default() } else { joined.freeze() })
}

/// Reloads menus and locales on every SIGHUP until `stop`.
fn reload_on_hangup(state: Arc<AppState>, mut stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let Ok(mut hup) = signal(SignalKind::hangup()) else {
                tracing::warn!("cannot listen for SIGHUP; reload with POST /admin/reload");
                return;
            };
            loop {
                tokio::select! {
                    got = hup.recv() => {
                        if got.is_none() {
                            return;
                        }
                        tracing::info!("SIGHUP: reloading menus and locales");
                        crate::reload::reload(&state.live, &state.channels).await;
                    }
                    _ = stop.changed() => return,
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = (state, stop.changed().await);
        }
    })
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
