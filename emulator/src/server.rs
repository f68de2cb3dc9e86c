//! The accept loop. Each TCP connection is served by hyper directly (not `axum::serve`) so
//! that a handler can make its own connection vanish: `Fault::Drop` must look to the client
//! like a server that died mid-request — a closed socket, no HTTP response at all.
//!
//! [`Background`] runs a server on its own thread and runtime, so synchronous tests can use
//! it; dropping it stops the server even while connections are open (an endless body, a
//! held request), because open connections are cancelled rather than waited for.

use std::future::Future;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, Notify};
use tower::ServiceExt;

use crate::state::Shared;

/// Request extension: notifying it closes the connection the request arrived on.
#[derive(Clone)]
pub(crate) struct ConnAbort(pub Arc<Notify>);

/// A server running on its own thread. Dropping it stops the server and frees the port.
pub(crate) struct Background {
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Background {
    /// Serves `listener` with `run(listener, shutdown)` on a thread named `name`.
    pub fn spawn<F, Fut>(
        name: &str,
        listener: std::net::TcpListener,
        run: F,
    ) -> std::io::Result<Background>
    where
        F: FnOnce(TcpListener, oneshot::Receiver<()>) -> Fut + Send + 'static,
        Fut: Future<Output = ()>,
    {
        listener.set_nonblocking(true)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(format!("{name}-rt"))
            .enable_all()
            .build()?;
        let (tx, rx) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                runtime.block_on(async move {
                    // Needs the runtime's reactor, hence done here rather than by the caller.
                    if let Ok(listener) = TcpListener::from_std(listener) {
                        run(listener, rx).await;
                    }
                });
                // Cancels open connections (and pending `Delay`s); image work gets a moment.
                runtime.shutdown_timeout(Duration::from_secs(5));
            })?;
        Ok(Background {
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Accepts connections until `shutdown` fires (or its sender is dropped). `shared` counts
/// the requests in flight, when given.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    shared: Option<Arc<Shared>>,
    mut shutdown: oneshot::Receiver<()>,
) {
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _)) => {
                tokio::spawn(serve_connection(stream, router.clone(), shared.clone()));
            }
            // Typically EMFILE under a burst; back off instead of spinning.
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

async fn serve_connection(stream: TcpStream, router: Router, shared: Option<Arc<Shared>>) {
    let _ = stream.set_nodelay(true);
    let abort = Arc::new(Notify::new());
    let handle = ConnAbort(abort.clone());
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        let (router, shared) = (router.clone(), shared.clone());
        req.extensions_mut().insert(handle.clone());
        async move {
            // Counted until the response head is produced or the request is abandoned.
            let _in_flight = shared.as_deref().map(Shared::enter);
            router.oneshot(req).await
        }
    });
    // No timer is configured, so hyper applies no header-read timeout: idle keep-alive
    // connections stay open as long as the client wants, avoiding spurious resets.
    let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        _ = conn => {}
        // Dropping `conn` closes the socket without writing anything.
        () = abort.notified() => {}
    }
}
