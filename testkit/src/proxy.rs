//! A loopback TCP proxy for fault tests: the worker talks to a server through it, and the test
//! switches it between
//! - `pass`: bytes flow both ways;
//! - `cut`: every connection is closed and new ones are accepted then closed at once (a server
//!   that went away, a reset);
//! - `blackhole`: connections are accepted and held, nothing is forwarded either way (a
//!   partition: the client sees silence, not an error). On `restore` held bytes flow on, as
//!   TCP retransmission would deliver them after a partition heals;
//! - "drop the reply": once a client->server chunk contains a marker, that chunk is forwarded
//!   and the client's connection is closed without a reply (the command ran, its reply was
//!   lost).
//!
//! Its port stays the same throughout, like a server that restarts.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Pass,
    Cut,
    Blackhole,
}

#[derive(Default)]
struct Shared {
    /// Armed by `drop_reply_on`; taken by the first chunk that contains it.
    marker: Mutex<Option<Vec<u8>>>,
    dropped: AtomicUsize,
    accepted: AtomicUsize,
}

pub struct TcpProxy {
    pub port: u16,
    mode: watch::Sender<Mode>,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl TcpProxy {
    /// Forwards a free local port to `127.0.0.1:target`.
    pub async fn start(target: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("proxy addr").port();
        let (mode, _) = watch::channel(Mode::Pass);
        let shared = Arc::new(Shared::default());
        let rx = mode.subscribe();
        let sh = shared.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                sh.accepted.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(serve(client, target, rx.clone(), sh.clone()));
            }
        });
        TcpProxy {
            port,
            mode,
            shared,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Closes every connection through the proxy and refuses new ones.
    pub fn cut(&self) {
        self.mode.send_replace(Mode::Cut);
    }

    /// Holds every connection, old and new, forwarding nothing.
    pub fn blackhole(&self) {
        self.mode.send_replace(Mode::Blackhole);
    }

    /// Lets bytes through again.
    pub fn restore(&self) {
        self.mode.send_replace(Mode::Pass);
    }

    /// The next client->server chunk containing `marker` is forwarded, then that client's
    /// connection is closed before the server's reply can reach it. One shot.
    pub fn drop_reply_on(&self, marker: &[u8]) {
        *self.shared.marker.lock().unwrap() = Some(marker.to_vec());
    }

    /// How many replies `drop_reply_on` dropped so far.
    pub fn dropped_replies(&self) -> usize {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Connections accepted so far (a reconnecting client adds one each time).
    pub fn accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::Relaxed)
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.mode.send_replace(Mode::Cut);
    }
}

/// Waits while blackholed; returns the first other mode.
async fn not_held(rx: &mut watch::Receiver<Mode>) -> Mode {
    loop {
        let m = *rx.borrow_and_update();
        if m != Mode::Blackhole {
            return m;
        }
        if rx.changed().await.is_err() {
            return Mode::Cut;
        }
    }
}

async fn until_cut(mut rx: watch::Receiver<Mode>) {
    loop {
        if *rx.borrow_and_update() == Mode::Cut || rx.changed().await.is_err() {
            return;
        }
    }
}

enum End {
    Closed,
    DropReply,
}

/// Copies one direction chunk by chunk, holding while blackholed. `marker` is checked on the
/// client->server direction only.
async fn pump(
    from: &mut OwnedReadHalf,
    to: &mut OwnedWriteHalf,
    mut rx: watch::Receiver<Mode>,
    marker: Option<&Shared>,
) -> End {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // Not reading while held leaves the bytes in the kernel's buffers, as a partition does.
        if not_held(&mut rx).await == Mode::Cut {
            return End::Closed;
        }
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return End::Closed,
            Ok(n) => n,
        };
        // Read just before the hole opened: held until it closes.
        if not_held(&mut rx).await == Mode::Cut {
            return End::Closed;
        }
        let chunk = &buf[..n];
        let hit = marker.is_some_and(|s| {
            let mut m = s.marker.lock().unwrap();
            let found = m
                .as_ref()
                .is_some_and(|m| chunk.windows(m.len()).any(|w| w == m.as_slice()));
            if found {
                *m = None;
            }
            found
        });
        if to.write_all(chunk).await.is_err() {
            return End::Closed;
        }
        if hit {
            return End::DropReply;
        }
    }
}

async fn serve(client: TcpStream, target: u16, mut rx: watch::Receiver<Mode>, shared: Arc<Shared>) {
    if not_held(&mut rx).await == Mode::Cut {
        return;
    }
    let Ok(server) = TcpStream::connect(("127.0.0.1", target)).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let end = tokio::select! {
        e = pump(&mut cr, &mut sw, rx.clone(), Some(&shared)) => e,
        _ = pump(&mut sr, &mut cw, rx.clone(), None) => End::Closed,
        _ = until_cut(rx.clone()) => End::Closed,
    };
    if let End::DropReply = end {
        shared.dropped.fetch_add(1, Ordering::Relaxed);
        // The client loses its connection now; the server's side stays open a moment so the
        // command surely runs, and its reply is read and thrown away.
        drop((cr, cw));
        let _ = tokio::time::timeout(Duration::from_millis(500), async {
            let mut buf = [0u8; 4096];
            while matches!(sr.read(&mut buf).await, Ok(n) if n > 0) {}
        })
        .await;
        let _ = sw.shutdown().await;
    }
}
