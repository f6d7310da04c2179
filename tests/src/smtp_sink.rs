//! A real SMTP server for the tests, on a loopback port: it speaks enough of
//! RFC 5321 for lettre, records every message it accepts, parsed as a mail
//! client reads it (mail-parser), and can be told to refuse, defer or stall,
//! so failures of the transport can be staged.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mail_parser::MimeHeaders as _;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// What the sink does with the next transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum SinkMode {
    /// Accepts and records.
    Accept = 0,
    /// Answers `451` (try again later) to `MAIL FROM`.
    Refuse = 1,
    /// Takes the whole message, then never answers (until the mode changes).
    Stall = 2,
    /// Answers `550` (never) to `RCPT TO`.
    Reject = 3,
    /// Takes the whole message, then answers `451` (try again later).
    Defer = 4,
}

/// One message, as it arrived.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    /// The envelope: `MAIL FROM` and `RCPT TO`.
    pub from: String,
    pub to: Vec<String>,
    /// Each header by its lower-case name, its value unfolded and decoded.
    pub headers: HashMap<String, String>,
    /// `type/subtype` of the message itself (`multipart/alternative`).
    pub content_type: String,
    /// The text/plain part, decoded, its line breaks as a client stores them
    /// (`\n`; SMTP carries each as CRLF) and without the final one.
    pub text: Option<String>,
    /// The text/html part, the same way.
    pub html: Option<String>,
    /// The message as transmitted, dot-stuffing undone.
    pub raw: String,
}

/// The SMTP server; stops with the test's runtime.
#[derive(Clone)]
pub struct SmtpSink {
    pub port: u16,
    mode: Arc<AtomicU8>,
    received: Arc<Mutex<Vec<ReceivedMail>>>,
    transmitted: Arc<Mutex<Vec<ReceivedMail>>>,
    delay: Arc<Mutex<Duration>>,
    in_data: Arc<std::sync::atomic::AtomicUsize>,
}

impl SmtpSink {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sink = Self {
            port: listener.local_addr().unwrap().port(),
            mode: Arc::new(AtomicU8::new(SinkMode::Accept as u8)),
            received: Arc::default(),
            transmitted: Arc::default(),
            delay: Arc::default(),
            in_data: Arc::default(),
        };
        let server = sink.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let session = server.clone();
                tokio::spawn(async move {
                    let _ = session.serve(stream).await;
                });
            }
        });
        sink
    }

    /// `smtp://127.0.0.1:<port>`: plain SMTP, as a local relay speaks it.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn set_mode(&self, mode: SinkMode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }

    /// Waits this long before acknowledging each accepted message.
    pub fn set_delay(&self, delay: Duration) {
        *self.delay.lock().unwrap() = delay;
    }

    fn mode(&self) -> SinkMode {
        match self.mode.load(Ordering::SeqCst) {
            1 => SinkMode::Refuse,
            2 => SinkMode::Stall,
            3 => SinkMode::Reject,
            4 => SinkMode::Defer,
            _ => SinkMode::Accept,
        }
    }

    /// Messages whose content arrived (acknowledged or not).
    pub fn transmitted(&self) -> usize {
        self.in_data.load(Ordering::SeqCst)
    }

    pub fn received(&self) -> Vec<ReceivedMail> {
        self.received.lock().unwrap().clone()
    }

    /// Every message whose content arrived, accepted or not, in order.
    pub fn transmitted_mail(&self) -> Vec<ReceivedMail> {
        self.transmitted.lock().unwrap().clone()
    }

    /// Message-ID → how many times it arrived.
    pub fn message_id_counts(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for mail in self.received() {
            *counts.entry(mail.headers.get("message-id").cloned().unwrap_or_default()).or_insert(0) += 1;
        }
        counts
    }

    async fn serve(&self, stream: TcpStream) -> std::io::Result<()> {
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read);
        write.write_all(b"220 sink.test ESMTP ready\r\n").await?;
        let (mut from, mut to) = (String::new(), Vec::new());
        let mut line = String::new();
        loop {
            line.clear();
            if lines.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let command = line.trim_end().to_owned();
            let verb = command.split([' ', ':']).next().unwrap_or_default().to_ascii_uppercase();
            let reply: &[u8] = match verb.as_str() {
                "EHLO" | "HELO" => b"250 sink.test\r\n",
                "MAIL" if self.mode() == SinkMode::Refuse => b"451 4.3.0 try again later\r\n",
                "MAIL" => {
                    from = address(&command);
                    to.clear();
                    b"250 2.1.0 OK\r\n"
                }
                "RCPT" if self.mode() == SinkMode::Reject => b"550 5.1.1 no such user\r\n",
                "RCPT" => {
                    to.push(address(&command));
                    b"250 2.1.5 OK\r\n"
                }
                "DATA" => {
                    write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
                    let mut data = String::new();
                    loop {
                        line.clear();
                        if lines.read_line(&mut line).await? == 0 {
                            return Ok(()); // the client died mid-message: nothing was delivered
                        }
                        if line == ".\r\n" {
                            break;
                        }
                        data.push_str(line.strip_prefix('.').unwrap_or(&line));
                    }
                    self.in_data.fetch_add(1, Ordering::SeqCst);
                    self.transmitted.lock().unwrap().push(parse(&from, &to, &data));
                    if self.mode() == SinkMode::Defer {
                        write.write_all(b"451 4.7.1 deferred, try again later\r\n").await?;
                        continue;
                    }
                    while self.mode() == SinkMode::Stall {
                        // A client that dies while we stall delivered nothing.
                        tokio::select! {
                            read = lines.fill_buf() => if read.map_or(true, |b| b.is_empty()) { return Ok(()) },
                            () = tokio::time::sleep(Duration::from_millis(20)) => {}
                        }
                    }
                    let delay = *self.delay.lock().unwrap();
                    tokio::time::sleep(delay).await;
                    // Accepted only if the client is still there to hear it.
                    if let Ok(Ok(pending)) = tokio::time::timeout(Duration::ZERO, lines.fill_buf()).await
                        && pending.is_empty()
                    {
                        return Ok(());
                    }
                    self.received.lock().unwrap().push(parse(&from, &to, &data));
                    b"250 2.0.0 queued\r\n"
                }
                "RSET" => {
                    from.clear();
                    to.clear();
                    b"250 2.0.0 OK\r\n"
                }
                "NOOP" => b"250 2.0.0 OK\r\n",
                "QUIT" => {
                    write.write_all(b"221 2.0.0 bye\r\n").await?;
                    return Ok(());
                }
                _ => b"502 5.5.2 not implemented\r\n",
            };
            write.write_all(reply).await?;
        }
    }
}

fn address(command: &str) -> String {
    let start = command.find('<').map_or(0, |i| i + 1);
    let end = command.rfind('>').unwrap_or(command.len());
    command[start..end].to_owned()
}

fn parse(from: &str, to: &[String], data: &str) -> ReceivedMail {
    let message = mail_parser::MessageParser::default().parse(data.as_bytes()).expect("a MIME message");
    let headers = message
        .headers()
        .iter()
        .map(|header| {
            let raw = &data[header.offset_start as usize..header.offset_end as usize];
            let value = match header.value() {
                // With its angle brackets, as written.
                mail_parser::HeaderValue::Text(id) if header.name() == "Message-ID" => format!("<{id}>"),
                mail_parser::HeaderValue::Text(text) => text.to_string(),
                // RFC 3339, as the API writes times.
                mail_parser::HeaderValue::DateTime(date) => date.to_rfc3339(),
                _ => raw.split("\r\n").map(str::trim).collect::<Vec<_>>().join(" ").trim().to_owned(),
            };
            (header.name().to_ascii_lowercase(), value)
        })
        .collect();
    let content_type = message
        .content_type()
        .map(|ct| format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or_default()))
        .unwrap_or_default();
    let part = |body: Option<std::borrow::Cow<'_, str>>| {
        body.map(|b| b.replace("\r\n", "\n").trim_end_matches('\n').to_owned())
    };
    // Without a part of that type mail-parser converts the other; only a
    // real part counts here.
    let has = |wanted: &str| {
        message.parts.iter().any(|p| {
            p.content_type().is_some_and(|ct| ct.ctype() == "text" && ct.subtype() == Some(wanted))
                || (wanted == "plain" && p.content_type().is_none() && message.parts.len() == 1)
        })
    };
    ReceivedMail {
        from: from.to_owned(),
        to: to.to_vec(),
        headers,
        content_type,
        text: if has("plain") { part(message.body_text(0)) } else { None },
        html: if has("html") { part(message.body_html(0)) } else { None },
        raw: data.to_owned(),
    }
}
