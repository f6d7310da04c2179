//! The guard between each client socket and actix-http.
//!
//! actix-http times only a connection's first request head, drains a chunked
//! body the app gave up on for as long as the client trickles it, and, once
//! every connection slot is taken, leaves new clients in the listen backlog
//! however idle the open connections are. The guard follows each connection's
//! request framing with actix-http's own parser, fed a copy of every byte
//! read, and so:
//! - closes a connection whose request head is not complete within the head
//!   time-out of its first byte, for every request, not only the first;
//! - closes a connection after a response given before its request's body
//!   ended;
//! - when a worker is full, closes the connection that has waited longest for
//!   a request (idle, or with a head still arriving), so a new client gets
//!   its slot.
//!
//! It closes a connection by reporting end of input to actix-http, which then
//! finishes the response in progress and shuts the socket.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use actix_codec::Decoder as _;
use actix_http::ServiceConfig;
use actix_http::h1::{Codec, Message, MessageType};
use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Sleep, sleep};

/// What the guard enforces on one worker's connections.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GuardLimits {
    /// `HTTP_HEAD_TIMEOUT_MS`.
    pub head_timeout: Duration,
    /// How long unread body bytes are read away before a socket is closed.
    pub linger: Duration,
    /// This worker's share of `HTTP_MAX_CONNECTIONS`.
    pub max_open: usize,
}

/// The open connections of one worker (workers are single-threaded).
#[derive(Clone)]
pub(crate) struct Connections(Rc<RefCell<Registry>>);

struct Registry {
    limits: GuardLimits,
    /// For the guard's copy of actix-http's parser; created once per worker
    /// because it runs a clock task.
    parser_config: ServiceConfig,
    open: usize,
    /// Of those, closed to make room but not gone yet.
    evicted: usize,
    next_place: u64,
    /// Connections whose every request is answered, in the order they became so.
    waiting: BTreeMap<u64, Weak<Connection>>,
}

impl Connections {
    /// Must be called on the worker's thread, inside its runtime.
    pub(crate) fn new(limits: GuardLimits) -> Self {
        Self(Rc::new(RefCell::new(Registry {
            limits,
            parser_config: ServiceConfig::default(),
            open: 0,
            evicted: 0,
            next_place: 0,
            waiting: BTreeMap::new(),
        })))
    }

    /// Takes a new connection in; at the limit, first closes the one that has
    /// waited longest for a request, so the worker keeps accepting.
    pub(crate) fn admit<S>(&self, io: S) -> GuardedStream<S> {
        let (parser_config, limits) = {
            let mut registry = self.0.borrow_mut();
            registry.open += 1;
            if registry.full() {
                registry.make_room();
            }
            (registry.parser_config.clone(), registry.limits)
        };
        let connection = Rc::new(Connection {
            registry: Rc::clone(&self.0),
            heads: Cell::new(0),
            answers: Cell::new(0),
            in_body: Cell::new(false),
            closing: Cell::new(false),
            evicted: Cell::new(false),
            place: Cell::new(None),
            waker: RefCell::new(None),
        });
        connection.refresh();
        GuardedStream {
            io,
            connection,
            limits,
            parser: Some(Parser { codec: Codec::new(parser_config), unparsed: BytesMut::new() }),
            head_deadline: None,
            linger_deadline: None,
            write_closed: false,
        }
    }
}

impl Registry {
    /// Whether the worker is at its limit (and so has stopped accepting) with
    /// no connection already on its way out to make room.
    fn full(&self) -> bool {
        self.open - self.evicted >= self.limits.max_open
    }

    fn make_room(&mut self) {
        while let Some((_, waiting)) = self.waiting.pop_first() {
            if let Some(connection) = waiting.upgrade() {
                connection.place.set(None);
                if connection.closing.get() {
                    continue;
                }
                connection.evicted.set(true);
                self.evicted += 1;
                tracing::debug!("all connections open: closing the one that waited longest for a request");
                connection.close();
                return;
            }
        }
    }
}

/// One connection, as the guard and the connection's requests see it.
pub(crate) struct Connection {
    registry: Rc<RefCell<Registry>>,
    /// Request heads received.
    heads: Cell<u64>,
    /// Requests the app answered.
    answers: Cell<u64>,
    /// Whether the last request's body is still arriving.
    in_body: Cell<bool>,
    closing: Cell<bool>,
    /// Closed to make room for another.
    evicted: Cell<bool>,
    /// Its key in the registry's `waiting`, while it waits for a request.
    place: Cell<Option<u64>>,
    /// Wakes the connection's task so it notices `closing`.
    waker: RefCell<Option<Waker>>,
}

impl Connection {
    /// The app gave its response to this connection's oldest unanswered request.
    pub(crate) fn answered(self: &Rc<Self>) {
        self.answers.set(self.answers.get() + 1);
        if self.in_body.get() && self.heads.get() == self.answers.get() {
            // actix-http would read the rest of a chunked body for as long as
            // the client keeps sending it.
            self.close();
        }
        self.refresh();
        let mut registry = self.registry.borrow_mut();
        if registry.full() {
            // Nothing could be closed when the last client came, so the worker
            // stopped accepting: a connection that now only waits makes room.
            registry.make_room();
        }
    }

    fn head_received(self: &Rc<Self>, has_body: bool) {
        self.heads.set(self.heads.get() + 1);
        self.in_body.set(has_body);
        self.refresh();
    }

    fn close(&self) {
        self.closing.set(true);
        if let Some(waker) = self.waker.borrow_mut().take() {
            waker.wake();
        }
    }

    fn park(&self, waker: &Waker) {
        let mut parked = self.waker.borrow_mut();
        if !parked.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *parked = Some(waker.clone());
        }
    }

    /// Keeps `waiting` in step with whether every request is answered.
    fn refresh(self: &Rc<Self>) {
        let waiting = !self.closing.get() && self.heads.get() == self.answers.get();
        let mut registry = self.registry.borrow_mut();
        match (waiting, self.place.get()) {
            (true, None) => {
                let place = registry.next_place;
                registry.next_place += 1;
                registry.waiting.insert(place, Rc::downgrade(self));
                self.place.set(Some(place));
            }
            (false, Some(place)) => {
                registry.waiting.remove(&place);
                self.place.set(None);
            }
            _ => {}
        }
    }
}

/// actix-http's request parser, run over a copy of what actix-http reads, so
/// the guard and the server agree on where every head and body ends.
struct Parser {
    codec: Codec,
    unparsed: BytesMut,
}

/// A client socket that enforces the guard's rules on actix-http's behalf.
pub(crate) struct GuardedStream<S> {
    io: S,
    connection: Rc<Connection>,
    limits: GuardLimits,
    /// `None` once the input is no request actix-http can parse either (it
    /// answers 400 or 431 and closes).
    parser: Option<Parser>,
    /// Armed while a request head is incomplete.
    head_deadline: Option<Pin<Box<Sleep>>>,
    linger_deadline: Option<Pin<Box<Sleep>>>,
    write_closed: bool,
}

impl<S> GuardedStream<S> {
    /// The connection's state, for its requests (as actix-http connection data).
    pub(crate) fn connection(&self) -> Rc<Connection> {
        Rc::clone(&self.connection)
    }

    /// Follows the framing of bytes actix-http has just read.
    fn follow(&mut self, bytes: &[u8]) {
        let Some(parser) = self.parser.as_mut() else { return };
        parser.unparsed.extend_from_slice(bytes);
        loop {
            match parser.codec.decode(&mut parser.unparsed) {
                Ok(Some(Message::Item(_))) => {
                    self.head_deadline = None;
                    self.connection.head_received(parser.codec.message_type() != MessageType::None);
                }
                Ok(Some(Message::Chunk(Some(_)))) => {}
                Ok(Some(Message::Chunk(None))) => self.connection.in_body.set(false),
                Ok(None) => break,
                Err(_) => {
                    self.parser = None;
                    self.head_deadline = None;
                    return;
                }
            }
        }
        if parser.unparsed.is_empty() {
            // An idle connection keeps no buffer.
            parser.unparsed = BytesMut::new();
        } else if !self.connection.in_body.get() && self.head_deadline.is_none() {
            // The rest is the start of a head: its first byte came in this read.
            self.head_deadline = Some(Box::pin(sleep(self.limits.head_timeout)));
        }
    }

    fn head_expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.head_deadline.as_mut().is_some_and(|deadline| deadline.as_mut().poll(cx).is_ready())
    }
}

impl<S: AsyncRead + Unpin> GuardedStream<S> {
    /// Reads and drops what the client still sends, until it closes or the
    /// linger time is up: closing a socket with unread input resets it, and
    /// the client may then lose the response.
    fn poll_linger(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let linger = self.limits.linger;
        let deadline = self.linger_deadline.get_or_insert_with(|| Box::pin(sleep(linger)));
        let mut scratch = [0; 1024];
        // Bounded, so a client that sends fast cannot keep the worker here.
        for _ in 0..64 {
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut self.io).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if buf.filled().is_empty() => return Poll::Ready(()),
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(_)) => return Poll::Ready(()),
                Poll::Pending => return deadline.as_mut().poll(cx),
            }
        }
        if deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(());
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl<S> Drop for GuardedStream<S> {
    fn drop(&mut self) {
        self.connection.closing.set(true);
        self.connection.refresh();
        let mut registry = self.connection.registry.borrow_mut();
        registry.open -= 1;
        if self.connection.evicted.get() {
            registry.evicted -= 1;
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for GuardedStream<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.connection.closing.get() {
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                this.follow(&buf.filled()[before..]);
                Poll::Ready(Ok(()))
            }
            Poll::Pending if this.head_expired(cx) => {
                tracing::debug!("request head not complete in time; closing the connection");
                this.connection.close();
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                this.connection.park(cx.waker());
                Poll::Pending
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for GuardedStream<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.write_closed {
            std::task::ready!(Pin::new(&mut this.io).poll_shutdown(cx))?;
            this.write_closed = true;
        }
        if this.connection.in_body.get() {
            std::task::ready!(this.poll_linger(cx));
        }
        Poll::Ready(Ok(()))
    }
}
