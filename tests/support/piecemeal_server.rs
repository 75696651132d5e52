//! A loopback HTTP/1.1 server that answers every request with a 200 whose body comes in
//! one-byte chunks (`transfer-encoding: chunked`, so that each byte is a frame of its own
//! whatever TCP does with the writes), and counts how many it got out before the client hung
//! up. Neither httpmock nor hyper's server can be made to send this.
#![allow(dead_code)] // each includer uses part of it

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

/// How one answer went.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sent {
    /// One-byte chunks written (into the socket: the client may not have read them all).
    pub chunks: usize,
    /// Whether every chunk and the final one went out.
    pub finished: bool,
    /// Whether a write failed: the client hung up before the end.
    pub hung_up: bool,
}

impl Sent {
    /// Whether the answer is over, one way or the other.
    pub fn over(&self) -> bool {
        self.finished || self.hung_up
    }
}

pub struct PiecemealServer {
    pub addr: SocketAddr,
    sent: Arc<Mutex<Vec<Sent>>>,
}

impl PiecemealServer {
    /// Serves on 127.0.0.1: `chunks` one-byte chunks per answer, written `batch` at a time
    /// with `pause` after each batch.
    pub async fn start(chunks: usize, batch: usize, pause: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let sent = Arc::new(Mutex::new(Vec::new()));
        let log = sent.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    continue;
                };
                let log = log.clone();
                tokio::spawn(async move {
                    // The request's head; a GET has no body.
                    let mut head = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let index = {
                        let mut log = log.lock().unwrap();
                        log.push(Sent::default());
                        log.len() - 1
                    };
                    let status = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                                   transfer-encoding: chunked\r\n\r\n";
                    if stream.write_all(status).await.is_err() {
                        return;
                    }
                    let mut written = 0;
                    while written < chunks {
                        let n = batch.min(chunks - written);
                        if stream.write_all(&b"1\r\nx\r\n".repeat(n)).await.is_err() {
                            log.lock().unwrap()[index].hung_up = true;
                            return;
                        }
                        written += n;
                        log.lock().unwrap()[index].chunks = written;
                        tokio::time::sleep(pause).await;
                    }
                    let last = stream.write_all(b"0\r\n\r\n").await;
                    let mut log = log.lock().unwrap();
                    log[index].finished = last.is_ok();
                    log[index].hung_up = last.is_err();
                });
            }
        });
        PiecemealServer { addr, sent }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Each answer so far, in the order the requests came.
    pub fn sent(&self) -> Vec<Sent> {
        self.sent.lock().unwrap().clone()
    }
}
