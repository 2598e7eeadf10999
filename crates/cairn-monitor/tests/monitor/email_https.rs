//! E-mail and HTTPS notifications end to end: a CIS alarm fires on a root
//! console sign-in and its notification is delivered to an SMTP sink and to a
//! local TLS server (certificate from a test CA trusted through
//! `MonitorConfig::extra_ca_pem`), both started by the test on 127.0.0.1.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::common::*;
use bytes::Bytes;
use cairn_monitor::{
    DeliveryReport, ErrorClass, Monitor, MonitorConfig, OutboundNotification, Protocol, SmtpConfig,
    Subscription, verify_sns_signature,
};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const ALARM: &str = "CIS-CloudWatch.1-RootAccountUsage";

fn group_arn(name: &str) -> String {
    format!("arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}:*")
}

/// Creates log group `g` with the CIS pack (topic `t`), subscribes `sub`,
/// ingests a root console sign-in and returns the notifications of the
/// RootAccountUsage alarm.
fn fire_root_alarm(m: &Monitor, sub: Subscription) -> Vec<OutboundNotification> {
    create_log_group(m, "g");
    let r = m.enable_cis(ACCOUNT, REGION, "g", "t", None).unwrap();
    m.subscribe(&r.topic_arn, &sub).unwrap();
    let root = root_console_login();
    let out = m
        .ingest_trail_events(&group_arn("g"), ACCOUNT, REGION, &[(NOW, &root)])
        .unwrap();
    let notes: Vec<_> = out
        .notifications
        .into_iter()
        .filter(|n| n.subject.contains(ALARM))
        .collect();
    assert_eq!(notes.len(), 1, "one notification for {ALARM}");
    notes
}

/// [`fire_root_alarm`], then one delivery attempt of its notifications.
async fn fire_and_deliver(
    m: &Monitor,
    sub: Subscription,
) -> (Vec<OutboundNotification>, Vec<DeliveryReport>) {
    let notes = fire_root_alarm(m, sub);
    let reports = m.deliver_notifications(&notes).await;
    (notes, reports)
}

// ---------------------------------------------------------------- SMTP sink

/// One message the sink accepted.
#[derive(Debug, Clone)]
struct Mail {
    from: String,
    rcpt: Vec<String>,
    /// The DATA section, dot-unstuffed, with `\n` line ends.
    data: String,
    /// Received after STARTTLS.
    over_tls: bool,
    /// `user:password` of an `AUTH PLAIN`.
    auth: Option<String>,
}

impl Mail {
    /// Header value (folded lines joined).
    fn header(&self, name: &str) -> Option<String> {
        let (head, _) = self.data.split_once("\n\n")?;
        let mut unfolded: Vec<String> = Vec::new();
        for line in head.lines() {
            if line.starts_with([' ', '\t']) {
                if let Some(last) = unfolded.last_mut() {
                    last.push_str(line);
                }
            } else {
                unfolded.push(line.to_string());
            }
        }
        unfolded.iter().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    /// The body, decoded per `Content-Transfer-Encoding` (7bit or
    /// quoted-printable; lettre picks QP for lines over 76 characters).
    fn body(&self) -> String {
        let raw = self.data.split_once("\n\n").map(|(_, b)| b).unwrap_or("");
        match self.header("Content-Transfer-Encoding").as_deref() {
            Some("quoted-printable") => decode_qp(raw),
            Some("7bit") | Some("8bit") | None => raw.to_string(),
            Some(other) => panic!("unexpected transfer encoding {other}"),
        }
    }
}

/// RFC 2045 quoted-printable decoding (soft line breaks and `=XX`).
fn decode_qp(s: &str) -> String {
    let s = s.replace("=\n", "");
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
            if let Ok(v) = u8::from_str_radix(hex, 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// Reply to the n-th (0-based) `RCPT TO` the sink sees.
type RcptReply = Arc<dyn Fn(usize) -> &'static str + Send + Sync>;

struct SmtpSink {
    port: u16,
    rx: tokio::sync::mpsc::UnboundedReceiver<Mail>,
    rcpt_seen: Arc<AtomicUsize>,
    tls_failures: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// How an SMTP session ended.
enum SessionEnd {
    Closed,
    /// The client sent STARTTLS and was told to go ahead.
    StartTls,
}

struct SinkState {
    tx: tokio::sync::mpsc::UnboundedSender<Mail>,
    seen: Arc<AtomicUsize>,
    rcpt_reply: RcptReply,
    /// Offer STARTTLS (before the upgrade).
    tls: Option<tokio_rustls::TlsAcceptor>,
    /// Offer `AUTH PLAIN`.
    auth: bool,
}

/// One SMTP session over `stream` (plain or TLS).
async fn smtp_session<S>(stream: S, st: &SinkState, greet: bool, secure: bool) -> (SessionEnd, S)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut s = BufReader::new(stream);
    if greet && s.write_all(b"220 sink ESMTP ready\r\n").await.is_err() {
        return (SessionEnd::Closed, s.into_inner());
    }
    let mut mail = Mail {
        from: String::new(),
        rcpt: Vec::new(),
        data: String::new(),
        over_tls: secure,
        auth: None,
    };
    loop {
        let mut line = String::new();
        match s.read_line(&mut line).await {
            Ok(0) | Err(_) => return (SessionEnd::Closed, s.into_inner()),
            Ok(_) => {}
        }
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        let upper = line.to_ascii_uppercase();
        let reply: String = if upper.starts_with("EHLO") {
            let mut r = "250-sink\r\n".to_string();
            if st.tls.is_some() && !secure {
                r.push_str("250-STARTTLS\r\n");
            }
            if st.auth {
                r.push_str("250-AUTH PLAIN\r\n");
            }
            r.push_str("250 8BITMIME\r\n");
            r
        } else if st.auth && upper.starts_with("AUTH PLAIN ") {
            use base64::Engine as _;
            let raw = base64::engine::general_purpose::STANDARD
                .decode(line[11..].trim())
                .unwrap_or_default();
            let parts: Vec<String> = raw
                .split(|b| *b == 0)
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect();
            mail.auth = Some(parts[1..].join(":"));
            "235 2.7.0 Authentication successful\r\n".into()
        } else if upper.starts_with("HELO") {
            "250 sink\r\n".into()
        } else if upper == "STARTTLS" && st.tls.is_some() && !secure {
            let _ = s.write_all(b"220 go ahead\r\n").await;
            return (SessionEnd::StartTls, s.into_inner());
        } else if upper.starts_with("MAIL FROM:") {
            mail.from = line[10..].trim().to_string();
            "250 OK\r\n".into()
        } else if upper.starts_with("RCPT TO:") {
            let n = st.seen.fetch_add(1, Ordering::SeqCst);
            let reply = (st.rcpt_reply)(n);
            if reply.starts_with('2') {
                mail.rcpt.push(line[8..].trim().to_string());
            }
            format!("{reply}\r\n")
        } else if upper == "DATA" {
            if s.write_all(b"354 end with .\r\n").await.is_err() {
                return (SessionEnd::Closed, s.into_inner());
            }
            let mut data = String::new();
            loop {
                let mut l = String::new();
                match s.read_line(&mut l).await {
                    Ok(0) | Err(_) => return (SessionEnd::Closed, s.into_inner()),
                    Ok(_) => {}
                }
                let l = l.trim_end_matches(['\r', '\n']);
                if l == "." {
                    break;
                }
                data.push_str(l.strip_prefix('.').unwrap_or(l));
                data.push('\n');
            }
            mail.data = data;
            let _ = st.tx.send(mail.clone());
            "250 queued\r\n".into()
        } else if upper == "QUIT" {
            let _ = s.write_all(b"221 bye\r\n").await;
            return (SessionEnd::Closed, s.into_inner());
        } else {
            "250 OK\r\n".into()
        };
        if s.write_all(reply.as_bytes()).await.is_err() {
            return (SessionEnd::Closed, s.into_inner());
        }
    }
}

/// A minimal SMTP server: greets, answers EHLO/MAIL/RCPT/DATA/QUIT (and
/// STARTTLS when `tls` is given), keeps the messages.
async fn smtp_sink_with(
    rcpt_reply: RcptReply,
    tls: Option<Arc<rustls::ServerConfig>>,
    auth: bool,
) -> SmtpSink {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let rcpt_seen = Arc::new(AtomicUsize::new(0));
    let tls_failures = Arc::new(AtomicUsize::new(0));
    let st = Arc::new(SinkState {
        tx,
        seen: rcpt_seen.clone(),
        rcpt_reply,
        tls: tls.map(tokio_rustls::TlsAcceptor::from),
        auth,
    });
    let failures = tls_failures.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let st = st.clone();
            let failures = failures.clone();
            tokio::spawn(async move {
                let (end, tcp) = smtp_session(stream, &st, true, false).await;
                if let (SessionEnd::StartTls, Some(acceptor)) = (end, &st.tls) {
                    match acceptor.accept(tcp).await {
                        Ok(tls) => {
                            let _ = smtp_session(tls, &st, false, true).await;
                        }
                        Err(_) => {
                            failures.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
            });
        }
    });
    SmtpSink {
        port,
        rx,
        rcpt_seen,
        tls_failures,
        task,
    }
}

async fn smtp_sink(rcpt_reply: RcptReply) -> SmtpSink {
    smtp_sink_with(rcpt_reply, None, false).await
}

fn smtp_config(port: u16) -> MonitorConfig {
    MonitorConfig {
        smtp: Some(SmtpConfig {
            host: "127.0.0.1".into(),
            port,
            from: "Cairn Alarms <alarms@cairn.test>".into(),
            ..SmtpConfig::default()
        }),
        ..fast_config()
    }
}

fn email_to(addr: &str) -> Subscription {
    Subscription {
        protocol: Protocol::Email,
        endpoint: addr.into(),
    }
}

#[tokio::test]
async fn alarm_email_reaches_the_smtp_sink() {
    let mut sink = smtp_sink(Arc::new(|_| "250 OK")).await;
    let (_d, _c, m) = monitor_with(smtp_config(sink.port));
    let (notes, reports) = fire_and_deliver(&m, email_to("ops@example.com")).await;
    assert_eq!(reports.len(), 1);
    assert!(reports[0].delivered, "{:?}", reports[0]);
    assert_eq!(reports[0].attempts.len(), 1);
    assert_eq!(reports[0].attempts[0].status, Some(250));

    let mail = sink.rx.try_recv().expect("the sink received the e-mail");
    assert_eq!(mail.from, "<alarms@cairn.test>");
    assert_eq!(mail.rcpt, vec!["<ops@example.com>".to_string()]);
    assert_eq!(
        mail.header("Subject").as_deref(),
        Some(format!("ALARM: \"{ALARM}\" in US East (N. Virginia)").as_str())
    );
    assert_eq!(mail.header("To").as_deref(), Some("ops@example.com"));
    assert!(mail.header("From").unwrap().contains("<alarms@cairn.test>"));
    assert_eq!(
        mail.header("Message-ID"),
        Some(format!("<{}@cairn.monitor>", notes[0].message_id))
    );
    assert!(
        mail.header("Content-Type")
            .unwrap()
            .starts_with("text/plain")
    );
    let body = mail.body();
    assert!(
        body.starts_with(&format!(
            "You are receiving this email because your Amazon CloudWatch Alarm \"{ALARM}\" in the US East (N. Virginia) region has entered the ALARM state"
        )),
        "{body}"
    );
    assert!(
        body.contains("- State Change:               OK -> ALARM"),
        "{body}"
    );
    let (_, json_text) = body
        .split_once("Notification JSON:\n")
        .expect("the body carries the notification JSON");
    let v: Value = serde_json::from_str(json_text.trim()).unwrap();
    let metric = v["Trigger"]["MetricName"].as_str().unwrap();
    assert!(
        body.contains(&format!(
            "- MetricName:                          {metric}\n"
        )),
        "{body}"
    );
    assert!(
        body.contains(&format!("- ALARM: [{}]", notes[0].topic_arn)),
        "{body}"
    );
    assert_eq!(v["AlarmName"], ALARM);
    assert_eq!(v["NewStateValue"], "ALARM");
    assert_eq!(v["OldStateValue"], "OK");
    assert_eq!(v["AWSAccountId"], ACCOUNT);
    assert!(v["Trigger"]["MetricName"].is_string());
    // Nothing failed; a second delivery of the same notification is a no-op.
    assert!(m.list_failed_notifications().unwrap().is_empty());
    assert!(m.deliver_notifications(&notes).await.is_empty());
}

fn starttls_config(port: u16, ca_pem: Option<&str>) -> MonitorConfig {
    let mut cfg = smtp_config(port);
    if let Some(smtp) = cfg.smtp.as_mut() {
        smtp.host = "localhost".into();
        smtp.starttls = true;
    }
    cfg.extra_ca_pem = ca_pem.map(|p| vec![p.to_string()]).unwrap_or_default();
    cfg
}

#[tokio::test]
async fn starttls_relay_with_a_trusted_ca_gets_the_email_over_tls() {
    let pki = pki();
    let mut sink = smtp_sink_with(Arc::new(|_| "250 OK"), Some(pki.server.clone()), false).await;
    let (_d, _c, m) = monitor_with(starttls_config(sink.port, Some(&pki.ca_pem)));
    let (_, reports) = fire_and_deliver(&m, email_to("ops@example.com")).await;
    assert!(reports[0].delivered, "{:?}", reports[0]);
    let mail = sink.rx.try_recv().unwrap();
    assert!(mail.over_tls, "the message was sent after STARTTLS");
    assert!(mail.header("Subject").unwrap().contains(ALARM));
    assert_eq!(sink.tls_failures.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn smtp_auth_plain_over_starttls() {
    let pki = pki();
    let mut sink = smtp_sink_with(Arc::new(|_| "250 OK"), Some(pki.server.clone()), true).await;
    let mut cfg = starttls_config(sink.port, Some(&pki.ca_pem));
    if let Some(smtp) = cfg.smtp.as_mut() {
        smtp.username = Some("cairn".into());
        smtp.password = Some("s3cret".into());
    }
    assert!(
        !format!("{cfg:?}").contains("s3cret"),
        "the password is redacted"
    );
    let (_d, _c, m) = monitor_with(cfg);
    let (_, reports) = fire_and_deliver(&m, email_to("ops@example.com")).await;
    assert!(reports[0].delivered, "{:?}", reports[0]);
    let mail = sink.rx.try_recv().unwrap();
    assert!(mail.over_tls);
    assert_eq!(mail.auth.as_deref(), Some("cairn:s3cret"));
}

#[tokio::test]
async fn starttls_relay_with_an_untrusted_certificate_is_kept_as_failed() {
    let pki = pki();
    let mut sink = smtp_sink_with(Arc::new(|_| "250 OK"), Some(pki.server.clone()), false).await;
    let (_d, _c, m) = monitor_with(starttls_config(sink.port, None));
    let (_, reports) = fire_and_deliver(&m, email_to("ops@example.com")).await;
    assert!(!reports[0].delivered);
    assert_eq!(
        reports[0].attempts.len(),
        1,
        "certificate rejections are not retried: {:?}",
        reports[0].attempts
    );
    let err = reports[0].attempts[0].error.clone().unwrap();
    assert!(
        err.contains("certificate") || err.contains("UnknownIssuer"),
        "{err}"
    );
    assert!(sink.rx.try_recv().is_err());
    assert_eq!(m.list_failed_notifications().unwrap().len(), 1);
}

#[tokio::test]
async fn transient_smtp_reply_is_retried() {
    // First RCPT: 451 (try again later); then accepted.
    let mut sink = smtp_sink(Arc::new(|n| {
        if n == 0 {
            "451 4.3.0 try again later"
        } else {
            "250 OK"
        }
    }))
    .await;
    let (_d, _c, m) = monitor_with(smtp_config(sink.port));
    let (_, reports) = fire_and_deliver(&m, email_to("ops@example.com")).await;
    assert!(reports[0].delivered, "{:?}", reports[0]);
    assert_eq!(reports[0].attempts.len(), 2);
    assert_eq!(reports[0].attempts[0].status, Some(451));
    assert!(sink.rx.try_recv().is_ok());
    assert_eq!(sink.rcpt_seen.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn permanent_smtp_reply_fails_at_once_and_is_kept() {
    let mut sink = smtp_sink(Arc::new(|_| "550 5.1.1 no such user")).await;
    let (_d, _c, m) = monitor_with(smtp_config(sink.port));
    let (_, reports) = fire_and_deliver(&m, email_to("nobody@example.com")).await;
    assert!(!reports[0].delivered);
    assert_eq!(reports[0].attempts.len(), 1, "5xx is not retried");
    assert_eq!(reports[0].attempts[0].status, Some(550));
    assert!(sink.rx.try_recv().is_err());
    let failed = m.list_failed_notifications().unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].endpoint, "nobody@example.com");
    assert!(
        failed[0].last_error.contains("550"),
        "{}",
        failed[0].last_error
    );
    assert!(failed[0].subject.contains(ALARM));
}

#[tokio::test]
async fn unreachable_smtp_server_is_retried_then_kept_as_failed() {
    // A port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (_d, _c, m) = monitor_with(smtp_config(port));
    let (_, reports) = fire_and_deliver(&m, email_to("ops@example.com")).await;
    assert!(!reports[0].delivered);
    assert_eq!(
        reports[0].attempts.len() as u32,
        fast_config().retry.max_attempts
    );
    let failed = m.list_failed_notifications().unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].attempts, fast_config().retry.max_attempts);

    // The relay comes up: retrying the failed notification delivers it.
    drop(m);
    let mut sink = smtp_sink(Arc::new(|_| "250 OK")).await;
    let m = Monitor::open_with(_d.path(), _c.clone(), smtp_config(sink.port)).unwrap();
    assert_eq!(m.retry_failed_notifications().unwrap(), 1);
    let reports = m.deliver_pending().await.unwrap();
    assert!(reports[0].delivered, "{:?}", reports[0]);
    assert!(sink.rx.try_recv().is_ok());
}

#[tokio::test]
async fn email_subscription_needs_smtp_and_a_valid_address() {
    let (_d, _c, m) = monitor();
    let topic = m.create_topic(ACCOUNT, REGION, "t").unwrap();
    let e = m
        .subscribe(&topic, &email_to("ops@example.com"))
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::NotImplemented);
    assert!(e.message().contains("SMTP"), "{}", e.message());

    let (_d, _c, m) = monitor_with(smtp_config(25));
    let topic = m.create_topic(ACCOUNT, REGION, "t").unwrap();
    let e = m
        .subscribe(&topic, &email_to("not an address"))
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::InvalidParameter);
    let arn = m.subscribe(&topic, &email_to("ops@example.com")).unwrap();
    let subs = m.list_subscriptions(&topic).unwrap();
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].arn, arn);
    assert_eq!(subs[0].protocol, Protocol::Email);
}

#[tokio::test]
async fn invalid_smtp_from_address_fails_open() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = MonitorConfig {
        smtp: Some(SmtpConfig {
            from: "not an address".into(),
            ..SmtpConfig::default()
        }),
        ..fast_config()
    };
    let clock = Arc::new(cairn_monitor::ManualClock::new(NOW));
    assert!(Monitor::open_with(dir.path(), clock, cfg).is_err());
}

// ---------------------------------------------------------------- HTTPS

struct Pki {
    ca_pem: String,
    server: Arc<rustls::ServerConfig>,
}

/// A test CA and a server certificate for `localhost` and `127.0.0.1`.
fn pki() -> Pki {
    pki_for(&["localhost", "127.0.0.1"])
}

/// A test CA and a server certificate for `names`.
fn pki_for(names: &[&str]) -> Pki {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "Cairn test CA");
    ca.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf =
        rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap()
            .signed_by(&leaf_key, &issuer)
            .unwrap();
    let key = rustls_pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone()], key)
        .unwrap();
    Pki {
        ca_pem: ca_cert.pem(),
        server: Arc::new(server),
    }
}

struct TlsServer {
    port: u16,
    rx: tokio::sync::mpsc::UnboundedReceiver<Received>,
    handshake_failures: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl TlsServer {
    /// A subscription of `protocol` to `https://{host}:{port}{path}` on this server.
    fn subscription(&self, protocol: Protocol, host: &str, path: &str) -> Subscription {
        Subscription {
            protocol,
            endpoint: format!("https://{host}:{}{path}", self.port),
        }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An HTTPS/1.1 server on 127.0.0.1:0 answering 200 to every request.
async fn start_tls_server(cfg: Arc<rustls::ServerConfig>) -> TlsServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let handshake_failures = Arc::new(AtomicUsize::new(0));
    let failures = handshake_failures.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            let failures = failures.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    failures.fetch_add(1, Ordering::SeqCst);
                    return;
                };
                let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let tx = tx.clone();
                    async move {
                        let _ = tx.send(Received::read(req).await);
                        Ok::<_, hyper::Error>(hyper::Response::new(Full::new(Bytes::new())))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    TlsServer {
        port,
        rx,
        handshake_failures,
        task,
    }
}

fn trusting(ca_pem: &str) -> MonitorConfig {
    MonitorConfig {
        extra_ca_pem: vec![ca_pem.to_string()],
        ..fast_config()
    }
}

#[tokio::test]
async fn https_subscription_receives_the_signed_envelope() {
    let pki = pki();
    let mut server = start_tls_server(pki.server.clone()).await;
    let (_d, _c, m) = monitor_with(trusting(&pki.ca_pem));
    let (notes, reports) = fire_and_deliver(
        &m,
        server.subscription(Protocol::Https, "localhost", "/sns"),
    )
    .await;
    assert!(reports[0].delivered, "{:?}", reports[0]);
    assert_eq!(reports[0].attempts.len(), 1);
    assert_eq!(reports[0].attempts[0].status, Some(200));

    let req = server
        .rx
        .try_recv()
        .expect("the TLS server got the request");
    assert_eq!(req.path, "/sns");
    assert_eq!(req.header("x-amz-sns-message-type"), Some("Notification"));
    assert_eq!(
        req.header("x-amz-sns-message-id"),
        Some(notes[0].message_id.as_str())
    );
    let env: Value = serde_json::from_str(&req.body).unwrap();
    assert_eq!(env["Type"], "Notification");
    assert_eq!(env["SignatureVersion"], "2");
    assert!(verify_sns_signature(&env, &m.sns_public_key_der()));
    let mut tampered = env.clone();
    tampered["Subject"] = json!("OK: tampered");
    assert!(!verify_sns_signature(&tampered, &m.sns_public_key_der()));
    let msg: Value = serde_json::from_str(env["Message"].as_str().unwrap()).unwrap();
    assert_eq!(msg["AlarmName"], ALARM);
    assert_eq!(msg["NewStateValue"], "ALARM");
    assert_eq!(server.handshake_failures.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn https_webhook_to_an_ip_address_is_delivered() {
    let pki = pki();
    let mut server = start_tls_server(pki.server.clone()).await;
    let (_d, _c, m) = monitor_with(trusting(&pki.ca_pem));
    let (_, reports) = fire_and_deliver(
        &m,
        server.subscription(Protocol::WebhookJson, "127.0.0.1", "/hook"),
    )
    .await;
    assert!(reports[0].delivered, "{:?}", reports[0]);
    let req = server.rx.try_recv().unwrap();
    let v: Value = serde_json::from_str(&req.body).unwrap();
    assert_eq!(v["source"], "cairn");
    assert_eq!(v["message"]["AlarmName"], ALARM);
}

#[tokio::test]
async fn untrusted_certificate_fails_at_once_and_is_kept_as_failed() {
    let pki = pki();
    let mut server = start_tls_server(pki.server.clone()).await;
    // Default config: only Mozilla's roots, which do not include the test CA.
    let (d, c, m) = monitor();
    let (_, reports) = fire_and_deliver(
        &m,
        server.subscription(Protocol::Https, "localhost", "/sns"),
    )
    .await;
    assert!(!reports[0].delivered);
    assert_eq!(
        reports[0].attempts.len(),
        1,
        "certificate errors are not retried"
    );
    let err = reports[0].attempts[0].error.clone().unwrap();
    assert!(err.contains("certificate"), "{err}");
    assert!(server.rx.try_recv().is_err(), "no request got through");
    let failed = m.list_failed_notifications().unwrap();
    assert_eq!(failed.len(), 1);
    assert!(failed[0].last_error.contains("certificate"));

    // Trusting the CA and retrying delivers the kept notification.
    drop(m);
    let m = Monitor::open_with(d.path(), c.clone(), trusting(&pki.ca_pem)).unwrap();
    assert_eq!(m.retry_failed_notifications().unwrap(), 1);
    let reports = m.deliver_pending().await.unwrap();
    assert!(reports[0].delivered, "{:?}", reports[0]);
    assert!(server.rx.try_recv().is_ok());
}

#[tokio::test]
async fn wrong_host_name_is_rejected() {
    // A trusted CA, but the certificate names another host.
    let pki = pki_for(&["other.example"]);
    let mut server = start_tls_server(pki.server.clone()).await;
    let (_d, _c, m) = monitor_with(trusting(&pki.ca_pem));
    let (_, reports) = fire_and_deliver(
        &m,
        server.subscription(Protocol::Https, "127.0.0.1", "/sns"),
    )
    .await;
    assert!(!reports[0].delivered);
    assert_eq!(reports[0].attempts.len(), 1);
    let err = reports[0].attempts[0].error.clone().unwrap_or_default();
    assert!(err.contains("certificate"), "{err}");
    assert!(server.rx.try_recv().is_err());
}

#[test]
fn bad_extra_ca_pem_fails_open() {
    for pem in [
        "",
        "not pem",
        "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(cairn_monitor::ManualClock::new(NOW));
        let r = Monitor::open_with(dir.path(), clock, trusting(pem));
        assert!(r.is_err(), "{pem:?} must be refused");
    }
}
