//! Capture of a guest's stdout and stderr.
//!
//! Guests print panics and debug output to stdio. The host keeps the first
//! bytes of each call's output, logs them with the adapter's name when the call
//! ends, and adds them to the error when the call traps. Output past the cap is
//! counted and dropped instead of failing the guest's write, so a guest that
//! floods stdout slows nothing down and can not fill the host's memory.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// Bytes of output kept per call.
const CAPTURE_CAPACITY: usize = 16 * 1024;

#[derive(Default)]
struct Captured {
    bytes: Vec<u8>,
    dropped: usize,
}

/// A stdout or stderr for one call; clones share the same buffer.
#[derive(Clone, Default)]
pub(crate) struct GuestOutput {
    captured: Arc<Mutex<Captured>>,
}

impl GuestOutput {
    /// Returns the kept output as text and the number of bytes dropped.
    pub(crate) fn take(&self) -> (String, usize) {
        let mut captured = self.captured.lock().unwrap_or_else(|e| e.into_inner());
        let bytes = std::mem::take(&mut captured.bytes);
        let dropped = std::mem::take(&mut captured.dropped);
        (String::from_utf8_lossy(&bytes).into_owned(), dropped)
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl AsyncWrite for GuestOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut captured = self.captured.lock().unwrap_or_else(|e| e.into_inner());
        let room = CAPTURE_CAPACITY.saturating_sub(captured.bytes.len());
        let kept = room.min(buf.len());
        captured.bytes.extend_from_slice(&buf[..kept]);
        captured.dropped += buf.len() - kept;
        // Report everything as written: the guest must not fail or retry
        // because the host chose to drop its output.
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;

    #[tokio::test]
    async fn output_past_capacity_is_counted_not_kept() {
        let output = GuestOutput::default();
        let mut stream = output.clone();
        stream
            .write_all(&vec![b'a'; CAPTURE_CAPACITY + 10])
            .await
            .unwrap();

        let (text, dropped) = output.take();
        assert_eq!(text.len(), CAPTURE_CAPACITY);
        assert_eq!(dropped, 10);
    }
}
