//! `connect`'s stdin, read while its tunnel is being opened.
//!
//! ssh writes its banner into the ProxyCommand's stdin as soon as it starts,
//! and an SSH server sends its key exchange only once that banner arrives.
//! Held until the instance's own first bytes have come back (which the proxy
//! waits for, to tell a reachable instance from one EICE cannot reach), the
//! banner would leave only after EICE had connected to the instance and its
//! sshd had spoken; read here, it goes through the tunnel the moment the
//! upgrade completes ([`crate::proxy::Proxy::open_early`]), and that wait no
//! longer adds to the login.

use std::sync::{Arc, Mutex, PoisonError};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, Stdin};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// At most this much is read ahead: far more than an SSH banner (at most
/// 255 bytes), and less than one frame's payload.
const LIMIT: usize = 16 * 1024;

/// stdin, being read into a buffer until [`EarlyStdin::finish`].
pub(super) struct EarlyStdin {
    read: Arc<Mutex<BytesMut>>,
    stop: oneshot::Sender<()>,
    reader: JoinHandle<Stdin>,
}

impl EarlyStdin {
    /// Starts reading stdin.
    pub(super) fn start() -> EarlyStdin {
        let read = Arc::new(Mutex::new(BytesMut::new()));
        let (stop, mut stopped) = oneshot::channel();
        let buffer = Arc::clone(&read);
        let reader = tokio::spawn(async move {
            let mut stdin = tokio::io::stdin();
            let mut chunk = vec![0u8; 4096];
            loop {
                let full = lock(&buffer).len() >= LIMIT;
                if full {
                    let _ = (&mut stopped).await;
                    return stdin;
                }
                // Cancelling a read of tokio's stdin loses nothing: a read
                // in progress finishes into stdin's own buffer, and the
                // splice's first read returns it.
                tokio::select! {
                    biased;
                    _ = &mut stopped => return stdin,
                    got = stdin.read(&mut chunk) => match got {
                        Ok(n) if n > 0 => lock(&buffer).extend_from_slice(&chunk[..n]),
                        // End of input or an error: the splice meets it again.
                        _ => {
                            let _ = (&mut stopped).await;
                            return stdin;
                        }
                    },
                }
            }
        });
        EarlyStdin { read, stop, reader }
    }

    /// Everything read so far (not consumed: a retried tunnel sends it again).
    pub(super) fn snapshot(&self) -> Bytes {
        Bytes::copy_from_slice(&lock(&self.read))
    }

    /// Stops reading ahead and returns stdin, with what was read but not
    /// `sent` through the tunnel in front of it.
    pub(super) async fn finish(self, sent: usize) -> impl AsyncRead + Unpin {
        let _ = self.stop.send(());
        let stdin = match self.reader.await {
            Ok(stdin) => stdin,
            // The reader never panics; should it, stdin is read afresh.
            Err(_) => tokio::io::stdin(),
        };
        let mut read = std::mem::take(&mut *lock(&self.read));
        let rest = read.split_off(sent.min(read.len())).freeze();
        std::io::Cursor::new(rest).chain(stdin)
    }
}

fn lock(buffer: &Mutex<BytesMut>) -> std::sync::MutexGuard<'_, BytesMut> {
    buffer.lock().unwrap_or_else(PoisonError::into_inner)
}
