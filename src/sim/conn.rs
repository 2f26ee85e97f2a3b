//! The sim's listener and connections: refusing a connection on cue, and letting a handler reset its own.
//!
//! `Behavior::Refuse` must act before a request exists, so the listener asks the sim's
//! [`SimControl`] about every connection it accepts and closes a refused one at once with
//! `SO_LINGER` 0 (a TCP reset). `Behavior::ResetBeforeHeaders` acts after the request was
//! read: the handler flips its connection's reset switch ([`Conn::reset`]); the connection's
//! next write then fails without writing anything, so hyper drops it before a status line
//! goes out, and the socket closes with a reset. Everything else is a plain `TcpStream`.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use super::SimControl;

/// A `TcpListener` that refuses the connections [`SimControl`] says to refuse.
pub(super) struct SimListener {
    inner: TcpListener,
    control: SimControl,
}

impl SimListener {
    pub(super) fn new(inner: TcpListener, control: SimControl) -> Self {
        Self { inner, control }
    }
}

impl Listener for SimListener {
    type Io = SimStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (SimStream, SocketAddr) {
        loop {
            // axum's own accept loop: retries transient errors, backs off on the others.
            let (stream, addr) = Listener::accept(&mut self.inner).await;
            if self.control.take_refusal() {
                tracing::trace!(%addr, "sim refuses a connection");
                // Zero linger: the close below sends a reset, not an orderly FIN.
                let _ = stream.set_zero_linger();
                drop(stream);
                continue;
            }
            let reset = Arc::new(AtomicBool::new(false));
            return (
                SimStream {
                    inner: stream,
                    reset,
                },
                addr,
            );
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// An accepted connection that fails every operation once its handler has asked for a reset.
pub(super) struct SimStream {
    inner: TcpStream,
    reset: Arc<AtomicBool>,
}

impl SimStream {
    /// Err (after arming the reset on close) once [`Conn::reset`] was called.
    fn check(&self) -> io::Result<()> {
        if self.reset.load(Ordering::Acquire) {
            let _ = self.inner.set_zero_linger();
            return Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "simulated upstream reset the connection",
            ));
        }
        Ok(())
    }
}

impl AsyncRead for SimStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for SimStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

/// The connection a request arrived on, as its handler sees it (axum `ConnectInfo`).
#[derive(Clone, Debug)]
pub(super) struct Conn {
    reset: Arc<AtomicBool>,
}

impl Conn {
    /// Makes the connection fail before the response's first byte: no status line is sent.
    pub(super) fn reset(&self) {
        self.reset.store(true, Ordering::Release);
    }
}

impl Connected<IncomingStream<'_, SimListener>> for Conn {
    fn connect_info(stream: IncomingStream<'_, SimListener>) -> Self {
        Self {
            reset: Arc::clone(&stream.io().reset),
        }
    }
}
