//! The accept loop. Each TCP connection is served by hyper directly (not `axum::serve`) so
//! that a handler can make its own connection vanish: `Fault::Drop` must look to the client
//! like a server that died mid-request — a closed socket, no HTTP response at all.

use std::sync::Arc;
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

/// Accepts connections until `shutdown` fires (or its sender is dropped).
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    shared: Arc<Shared>,
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

async fn serve_connection(stream: TcpStream, router: Router, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let abort = Arc::new(Notify::new());
    let handle = ConnAbort(abort.clone());
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        let (router, shared) = (router.clone(), shared.clone());
        req.extensions_mut().insert(handle.clone());
        async move {
            // Counted until the response head is produced or the request is abandoned.
            let _in_flight = shared.enter();
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
