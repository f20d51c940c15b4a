//! One connection loop for every mock listener, plain or TLS, with the bounds a service
//! on the internet has ([`Bounds`]): a request head must arrive in time, a TLS handshake
//! too, and only so many connections are served at once per listener (further clients
//! wait in the kernel's backlog). Bodies are bounded where they are read
//! (`sigv4::read_body`: size and time).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

/// What one listener allows its clients.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    /// A request line and headers not received within this close the connection (hyper
    /// answers nothing): a client that holds back its head holds nothing for long.
    pub head_timeout: Duration,
    /// A TLS handshake not finished within this ends the connection.
    pub handshake_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
}

impl Default for Bounds {
    fn default() -> Self {
        Self {
            head_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            max_connections: 1024,
        }
    }
}

/// Serves `app` on `listener` within the default [`Bounds`] until the task is aborted
/// (which drops every connection it owns); over TLS when `tls` is given. `name` is for
/// the logs.
pub fn serve(
    name: &'static str,
    listener: TcpListener,
    app: Router,
    tls: Option<TlsAcceptor>,
) -> JoinHandle<()> {
    serve_within(name, listener, app, tls, Bounds::default())
}

/// [`serve`] within other bounds.
pub fn serve_within(
    name: &'static str,
    listener: TcpListener,
    app: Router,
    tls: Option<TlsAcceptor>,
    bounds: Bounds,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let slots = Arc::new(Semaphore::new(bounds.max_connections));
        let mut conns = JoinSet::new();
        loop {
            let slot = tokio::select! {
                slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
                Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            };
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            };
            match accepted {
                Ok((tcp, _)) => {
                    let (app, tls) = (app.clone(), tls.clone());
                    conns.spawn(async move {
                        let _slot = slot;
                        match tls {
                            None => connection(name, tcp, app, bounds).await,
                            Some(acceptor) => {
                                let handshake = acceptor.accept(tcp);
                                match tokio::time::timeout(bounds.handshake_timeout, handshake)
                                    .await
                                {
                                    Ok(Ok(stream)) => connection(name, stream, app, bounds).await,
                                    Ok(Err(e)) => {
                                        tracing::debug!(error = %e, "{name}: TLS handshake failed")
                                    }
                                    Err(_) => tracing::debug!("{name}: TLS handshake timed out"),
                                }
                            }
                        }
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait, then go on.
                    tracing::warn!(error = %e, "{name}: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    })
}

async fn connection<S>(name: &'static str, stream: S, app: Router, bounds: Bounds)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(bounds.head_timeout);
    let svc = TowerToHyperService::new(app);
    if let Err(e) = builder
        .serve_connection_with_upgrades(TokioIo::new(stream), svc)
        .await
    {
        tracing::debug!(error = %e, "{name}: connection ended");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    async fn listening(bounds: Bounds) -> (std::net::SocketAddr, JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route("/", axum::routing::get(|| async { "ok" }));
        (addr, serve_within("test", listener, app, None, bounds))
    }

    /// What the server sends before it closes, within `limit`; `None` when it did not
    /// close in time.
    async fn closed_after(stream: &mut TcpStream, limit: Duration) -> Option<String> {
        let mut buf = Vec::new();
        tokio::time::timeout(limit, stream.read_to_end(&mut buf))
            .await
            .ok()?
            .ok()?;
        Some(String::from_utf8_lossy(&buf).into_owned())
    }

    async fn answer(stream: &mut TcpStream, limit: Duration) -> String {
        closed_after(stream, limit).await.unwrap_or_default()
    }

    #[tokio::test]
    async fn a_client_that_holds_back_its_head_is_cut_off() {
        let (addr, task) = listening(Bounds {
            head_timeout: Duration::from_millis(200),
            ..Bounds::default()
        })
        .await;
        let mut slow = TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        let started = std::time::Instant::now();
        let got = closed_after(&mut slow, Duration::from_secs(5)).await;
        assert_eq!(got.as_deref(), Some(""), "not closed within 5 s");
        assert!(started.elapsed() >= Duration::from_millis(150));
        // A client that sends its head answers as usual.
        let mut ok = TcpStream::connect(addr).await.unwrap();
        ok.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let got = answer(&mut ok, Duration::from_secs(5)).await;
        assert!(
            got.starts_with("HTTP/1.1 200") && got.ends_with("ok"),
            "{got:?}"
        );
        task.abort();
    }

    #[tokio::test]
    async fn connections_past_the_bound_wait_for_a_slot() {
        let (addr, task) = listening(Bounds {
            max_connections: 1,
            ..Bounds::default()
        })
        .await;
        let mut first = TcpStream::connect(addr).await.unwrap();
        first
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 12];
        first.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"HTTP/1.1 200");
        // The first connection is kept alive: the second is not served meanwhile...
        let mut second = TcpStream::connect(addr).await.unwrap();
        second
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let waiting = answer(&mut second, Duration::from_millis(300)).await;
        assert_eq!(waiting, "");
        // ...until the first goes away.
        drop(first);
        let got = answer(&mut second, Duration::from_secs(5)).await;
        assert!(got.starts_with("HTTP/1.1 200"), "{got:?}");
        task.abort();
    }
}
