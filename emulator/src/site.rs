//! [`Site`]: a tiny loopback web server that publishes a folder, so tests can give a folder a
//! `public_url` and let the emulator fetch from it as ShortPixel would fetch from a website.
//!
//! Request paths are percent-decoded to **bytes** and joined to the folder as such, so file
//! names that are not UTF-8 are served too. A test can make some paths answer differently
//! from what the folder holds ([`Serve`]): other bytes (a stale CDN copy), 404, a body that
//! never ends, a redirect; and run a hook as a request arrives, before it is answered (a
//! file edited while it is being fetched). Paths with `..` or `.` segments are never served
//! from disk. The server binds 127.0.0.1 only and stops when the [`Site`] drops, open
//! connections included.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;

use crate::handlers::mime_of;
use crate::parse::percent_decode_bytes;
use crate::server::{self, Background};

/// What a path answers instead of the folder's file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Serve {
    /// These bytes, HTTP 200.
    Bytes(Vec<u8>),
    /// HTTP 404.
    NotFound,
    /// HTTP 200 and a body that never ends (zeros, in 64 KiB chunks).
    Endless,
    /// HTTP 302 to this URL.
    Redirect(String),
}

/// Called with a request's decoded path before it is answered.
type Hook = Arc<dyn Fn(&[u8]) + Send + Sync>;

#[derive(Default)]
struct Inner {
    /// Decoded path (no leading `/`) → what to answer.
    overrides: HashMap<Vec<u8>, Serve>,
    /// Every request's decoded path, in arrival order.
    log: Vec<Vec<u8>>,
    hooks: Vec<Hook>,
}

#[derive(Clone)]
struct Shared {
    root: Arc<PathBuf>,
    inner: Arc<Mutex<Inner>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running web server for one folder. Dropping it stops the server.
pub struct Site {
    shared: Shared,
    addr: SocketAddr,
    _server: Background,
}

impl std::fmt::Debug for Site {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Site")
            .field("url", &self.url())
            .field("root", &self.shared.root)
            .finish_non_exhaustive()
    }
}

impl Site {
    /// Serves `root` on a random loopback port.
    ///
    /// # Panics
    /// If no loopback port can be bound or no thread started — tests cannot go on then.
    pub fn serve(root: impl Into<PathBuf>) -> Site {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let addr = listener.local_addr().expect("local address");
        let shared = Shared {
            root: Arc::new(root.into()),
            inner: Arc::default(),
        };
        let router = Router::new().fallback(answer).with_state(shared.clone());
        let server = Background::spawn("test-site", listener, move |listener, rx| {
            server::serve(listener, router, None, rx)
        })
        .expect("start the test web server");
        Site {
            shared,
            addr,
            _server: server,
        }
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Makes `path` (relative to the folder, unencoded bytes) answer `serve`.
    pub fn set(&self, path: impl AsRef<[u8]>, serve: Serve) {
        let path = path.as_ref().to_vec();
        self.shared.lock().overrides.insert(path, serve);
    }

    /// Serves `path` from the folder again.
    pub fn clear(&self, path: impl AsRef<[u8]>) {
        self.shared.lock().overrides.remove(path.as_ref());
    }

    /// Calls `hook` with each request's decoded path (relative, unencoded bytes) before the
    /// request is answered, so a test can change the folder while a file is being fetched.
    pub fn on_request(&self, hook: impl Fn(&[u8]) + Send + Sync + 'static) {
        self.shared.lock().hooks.push(Arc::new(hook));
    }

    /// Every request's path so far (decoded, relative), in arrival order.
    pub fn requests(&self) -> Vec<Vec<u8>> {
        self.shared.lock().log.clone()
    }

    /// How many requests asked for `path`.
    pub fn hits(&self, path: impl AsRef<[u8]>) -> usize {
        let path = path.as_ref();
        self.shared.lock().log.iter().filter(|p| *p == path).count()
    }
}

async fn answer(State(site): State<Shared>, req: Request) -> Response {
    let raw = req.uri().path().trim_start_matches('/');
    let path = percent_decode_bytes(raw, false);
    let hooks = {
        let mut inner = site.lock();
        inner.log.push(path.clone());
        inner.hooks.clone()
    };
    for hook in hooks {
        hook(&path);
    }
    let serve = site.lock().overrides.get(&path).cloned();
    match serve {
        Some(Serve::Bytes(bytes)) => file(Bytes::from(bytes)),
        Some(Serve::NotFound) => not_found(),
        Some(Serve::Redirect(to)) => {
            (StatusCode::FOUND, [(header::LOCATION, to)], "").into_response()
        }
        Some(Serve::Endless) => {
            let chunk = Bytes::from(vec![0u8; 64 * 1024]);
            let stream = futures_util::stream::repeat_with(move || {
                Ok::<_, std::convert::Infallible>(chunk.clone())
            });
            Response::new(Body::from_stream(stream))
        }
        None => from_disk(&site.root, &path).await,
    }
}

async fn from_disk(root: &std::path::Path, path: &[u8]) -> Response {
    let unsafe_segment = path
        .split(|&b| b == b'/')
        .any(|seg| seg.is_empty() || seg == b"." || seg == b"..");
    if unsafe_segment {
        return not_found();
    }
    let full = root.join(OsStr::from_bytes(path));
    match tokio::task::spawn_blocking(move || std::fs::read(full)).await {
        Ok(Ok(bytes)) => file(Bytes::from(bytes)),
        _ => not_found(),
    }
}

fn file(bytes: Bytes) -> Response {
    ([(header::CONTENT_TYPE, mime_of(&bytes))], bytes).into_response()
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "404 Not Found\n").into_response()
}
