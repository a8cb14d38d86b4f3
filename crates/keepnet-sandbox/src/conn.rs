//! A listener that keeps a handle on every open connection, so the sandbox
//! can drop all of them at once ([`crate::Sandbox::kill`]).
//!
//! axum spawns each connection as its own task, so aborting the serve task
//! only closes the listening socket: keep-alive connections would live on.
//! Every accepted stream therefore leaves a duplicate of its socket in a
//! registry; killing shuts each one down (both directions), which the peer
//! sees at once as a closed connection, whatever the connection's task is
//! doing at the moment.

use std::collections::HashMap;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use axum::serve::Listener;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

#[derive(Default)]
struct Registry {
    killed: bool,
    next_id: u64,
    open: HashMap<u64, std::net::TcpStream>,
}

/// Every open connection of one server.
#[derive(Default)]
pub(crate) struct Connections {
    registry: Mutex<Registry>,
}

impl Connections {
    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Register an accepted stream; refused (and so closed) once killed.
    fn track(self: &Arc<Self>, stream: TcpStream) -> io::Result<Tracked> {
        let std_stream = stream.into_std()?;
        let handle = std_stream.try_clone()?;
        let stream = TcpStream::from_std(std_stream)?;
        let mut reg = self.registry();
        if reg.killed {
            let _ = handle.shutdown(Shutdown::Both);
            return Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "sandbox killed",
            ));
        }
        let id = reg.next_id;
        reg.next_id += 1;
        reg.open.insert(id, handle);
        Ok(Tracked {
            stream,
            id,
            owner: Arc::clone(self),
        })
    }

    /// Shut every open connection down and refuse any accepted later.
    pub(crate) fn kill(&self) {
        let open = {
            let mut reg = self.registry();
            reg.killed = true;
            std::mem::take(&mut reg.open)
        };
        for handle in open.into_values() {
            let _ = handle.shutdown(Shutdown::Both);
        }
    }
}

/// A TCP listener whose connections are registered in [`Connections`].
pub(crate) struct TrackedListener {
    inner: TcpListener,
    conns: Arc<Connections>,
}

impl TrackedListener {
    pub(crate) fn new(inner: TcpListener, conns: Arc<Connections>) -> TrackedListener {
        TrackedListener { inner, conns }
    }
}

impl Listener for TrackedListener {
    type Io = Tracked;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Tracked, SocketAddr) {
        loop {
            // The TcpListener impl retries (and backs off on) accept errors.
            let (stream, addr) = Listener::accept(&mut self.inner).await;
            match self.conns.track(stream) {
                Ok(tracked) => return (tracked, addr),
                Err(e) => tracing::debug!("keepnet sandbox dropped a connection: {e}"),
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// An accepted stream that leaves the registry when dropped.
pub(crate) struct Tracked {
    stream: TcpStream,
    id: u64,
    owner: Arc<Connections>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.owner.registry().open.remove(&self.id);
    }
}

impl AsyncRead for Tracked {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}
