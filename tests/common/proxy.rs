//! A loopback TCP proxy in the test process that can make a server go silent: `blackhole()`
//! stops forwarding bytes both ways (connections stay open and new ones are accepted, but
//! nothing is answered, as when a network drops packets), `restore()` lets the held bytes
//! and everything after them through again. Its port stays the same throughout.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct BlackholeProxy {
    pub port: u16,
    flowing: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// Waits while the proxy is blackholed.
async fn until_flowing(rx: &mut watch::Receiver<bool>) {
    while !*rx.borrow_and_update() {
        if rx.changed().await.is_err() {
            return;
        }
    }
}

/// Copies `from` -> `to`, holding each chunk while blackholed.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut rx: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        until_flowing(&mut rx).await;
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        // A chunk read just before the blackhole began is held too.
        until_flowing(&mut rx).await;
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

impl BlackholeProxy {
    /// Forwards a free loopback port to `127.0.0.1:target`.
    pub async fn start(target: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("proxy addr").port();
        let (flowing, rx) = watch::channel(true);
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let rx = rx.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(("127.0.0.1", target)).await else {
                        return;
                    };
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    tokio::join!(pump(cr, sw, rx.clone()), pump(sr, cw, rx));
                });
            }
        });
        BlackholeProxy {
            port,
            flowing,
            task,
        }
    }

    pub fn blackhole(&self) {
        self.flowing.send_replace(false);
    }

    pub fn restore(&self) {
        self.flowing.send_replace(true);
    }
}

impl Drop for BlackholeProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
