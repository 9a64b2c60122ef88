//! A reason in the body of the replies hyper writes by itself.
//!
//! hyper answers a request it cannot parse without calling any service: a malformed request
//! line or header gets `400`, headers over its limits (`max_headers`, the read buffer) `431`, a
//! request target over its limit `414`. It writes only the head (`content-length: 0`), and
//! neither its `http1::Builder` nor any hook lets a server give that reply a body. So
//! [`Reasoned`] wraps a connection's IO and, when a write is exactly such a head, sends the same
//! head with a one-line plain-text reason as its body instead (the connection closes after it,
//! as hyper closes it after any parse error).
//!
//! What it recognises cannot be a reply of Njia's own: every 4xx Njia answers carries a reason,
//! so none has `content-length: 0`. Every other write passes through untouched; on the hot
//! path that costs one comparison of the first bytes (`HTTP/1.1 200`).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use hyper::rt::{Read, ReadBufCursor, Write};

/// A connection's IO whose automatic error replies carry a reason.
pub struct Reasoned<I> {
    io: I,
    /// The rewritten reply being written, and the length of the head it stands for (what
    /// hyper is told was written once all of it is).
    pending: Option<(Vec<u8>, usize, usize)>,
}

impl<I> Reasoned<I> {
    pub fn new(io: I) -> Reasoned<I> {
        Reasoned { io, pending: None }
    }
}

/// The reason given for each status hyper answers by itself.
fn reason(status: &[u8]) -> Option<&'static str> {
    Some(match status {
        b"400" => "bad request: the request line or a header is malformed\n",
        b"414" => "request target (URI) too long\n",
        b"431" => "request headers too large\n",
        _ => return None,
    })
}

/// `head` with a reason as its body, if `head` is one of hyper's automatic error replies: a
/// whole head, status 400, 414 or 431, with `content-length: 0`.
fn with_reason(head: &[u8]) -> Option<Vec<u8>> {
    const ZERO: &[u8] = b"\r\ncontent-length: 0\r\n";
    let status = head.strip_prefix(b"HTTP/1.1 ")?.get(..3)?;
    let reason = reason(status)?;
    if !head.ends_with(b"\r\n\r\n") {
        return None;
    }
    let at = head.windows(ZERO.len()).position(|w| w.eq_ignore_ascii_case(ZERO))?;
    let mut out = Vec::with_capacity(head.len() + reason.len() + 64);
    out.extend_from_slice(&head[..at]);
    out.extend_from_slice(
        format!("\r\ncontent-length: {}\r\ncontent-type: text/plain; charset=utf-8\r\n", reason.len()).as_bytes(),
    );
    out.extend_from_slice(&head[at + ZERO.len()..]);
    out.extend_from_slice(reason.as_bytes());
    Some(out)
}

impl<I: Write + Unpin> Reasoned<I> {
    /// Writes what is left of the rewritten reply. It stays pending until `poll_write` reports
    /// it to hyper, so a flush in between cannot make the head be rewritten and sent twice.
    fn drive(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some((bytes, written, _)) = &mut self.pending else { return Poll::Ready(Ok(())) };
        while *written < bytes.len() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(()))
    }

    /// Writes the rewritten reply to the end, then tells hyper its head was written.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        ready!(self.drive(cx))?;
        Poll::Ready(Ok(self.pending.take().map_or(0, |(_, _, stands_for)| stands_for)))
    }
}

impl<I: Read + Unpin> Read for Reasoned<I> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: ReadBufCursor<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<I: Write + Unpin> Write for Reasoned<I> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.pending.is_none() {
            match with_reason(buf) {
                Some(bytes) => this.pending = Some((bytes, 0, buf.len())),
                None => return Pin::new(&mut this.io).poll_write(cx, buf),
            }
        }
        this.poll_pending(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.pending.is_none() {
            // hyper's automatic reply is a head alone, in one buffer.
            let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| &b[..]);
            match with_reason(first) {
                Some(bytes) => this.pending = Some((bytes, 0, first.len())),
                None => return Pin::new(&mut this.io).poll_write_vectored(cx, bufs),
            }
        }
        this.poll_pending(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drive(cx))?;
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drive(cx))?;
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::with_reason;

    #[test]
    fn only_hypers_empty_error_heads_get_a_reason() {
        let head = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ndate: Sun, 29 Nov 2026 07:52:17 GMT\r\n\r\n";
        let out = String::from_utf8(with_reason(head).unwrap()).unwrap();
        let reason = "bad request: the request line or a header is malformed\n";
        assert_eq!(
            out,
            format!(
                "HTTP/1.1 400 Bad Request\r\ncontent-length: {}\r\ncontent-type: text/plain; charset=utf-8\r\n\
                 date: Sun, 29 Nov 2026 07:52:17 GMT\r\n\r\n{reason}",
                reason.len()
            )
        );
        let big = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\n";
        assert!(String::from_utf8(with_reason(big).unwrap()).unwrap().ends_with("\r\n\r\nrequest headers too large\n"));
        // A reply with a body, another status, or a head cut in two is left alone.
        assert!(with_reason(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 12\r\n\r\n").is_none());
        assert!(with_reason(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_none());
        assert!(with_reason(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n").is_none());
        assert!(with_reason(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n").is_none());
        assert!(with_reason(b"CON Karibu").is_none());
    }
}
