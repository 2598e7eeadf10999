//! E-mail notifications through an SMTP relay ([`crate::SmtpConfig`]), with
//! lettre: plain SMTP for local relays, or required STARTTLS (rustls with
//! aws-lc-rs, Mozilla's roots plus the operator's extra CA certificates).

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use rustls_pki_types::CertificateDer;

use crate::SmtpConfig;
use crate::error::{MonitorError, Result};

/// A configured SMTP sender. One connection per message (no pool).
pub(crate) struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

/// Why an e-mail was not accepted by the relay.
#[derive(Debug)]
pub(crate) struct MailError {
    /// The SMTP reply code, when the server answered.
    pub(crate) code: Option<u16>,
    pub(crate) message: String,
    pub(crate) retryable: bool,
}

/// Checks that `s` is a bare e-mail address (`local@domain`).
pub(crate) fn check_address(s: &str) -> Result<()> {
    s.parse::<Address>().map(|_| ()).map_err(|e| {
        MonitorError::invalid(format!(
            "Invalid parameter: Email address `{s}` is not valid ({e})"
        ))
    })
}

impl Mailer {
    /// Builds the transport for `cfg`; `extra_ca` are trusted for STARTTLS.
    pub(crate) fn new(
        cfg: &SmtpConfig,
        extra_ca: &[CertificateDer<'static>],
        timeout: Duration,
    ) -> Result<Mailer> {
        let from: Mailbox = cfg.from.parse().map_err(|e| {
            MonitorError::invalid(format!(
                "SMTP from address `{}` is not valid ({e})",
                cfg.from
            ))
        })?;
        let tls = if cfg.starttls {
            let mut params = TlsParameters::builder(cfg.host.clone());
            for c in extra_ca {
                let cert = Certificate::from_der(c.as_ref().to_vec()).map_err(|e| {
                    MonitorError::invalid(format!("extra CA certificate is not usable: {e}"))
                })?;
                params = params.add_root_certificate(cert);
            }
            let params = params.build_rustls().map_err(|e| MonitorError::Crypto {
                detail: e.to_string(),
            })?;
            Tls::Required(params)
        } else {
            Tls::None
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(cfg.host.clone())
            .port(cfg.port)
            .tls(tls)
            .timeout(Some(timeout));
        if let (Some(user), Some(pass)) = (&cfg.username, &cfg.password) {
            builder = builder.credentials(Credentials::new(user.clone(), pass.clone()));
        }
        Ok(Mailer {
            transport: builder.build(),
            from,
        })
    }

    /// Sends one plain-text message to `to`; returns the relay's reply code.
    pub(crate) async fn send(
        &self,
        to: &str,
        subject: &str,
        message_id: &str,
        body: &str,
    ) -> std::result::Result<u16, MailError> {
        let permanent = |message: String| MailError {
            code: None,
            message,
            retryable: false,
        };
        let to: Mailbox = to
            .parse()
            .map_err(|e| permanent(format!("invalid recipient address `{to}`: {e}")))?;
        let email = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .message_id(Some(format!("<{message_id}@cairn.monitor>")))
            .header(ContentType::TEXT_PLAIN)
            .body(body.to_string())
            .map_err(|e| permanent(format!("cannot build the e-mail: {e}")))?;
        match self.transport.send(email).await {
            Ok(resp) => Ok(code_of(resp.code())),
            Err(e) => {
                let code = e.status().map(code_of);
                // 5xx replies and client-side errors (bad input, TLS
                // verification) need a configuration change; 4xx replies,
                // timeouts and connection failures are retried.
                let retryable =
                    !(e.is_permanent() || e.is_client() || e.is_tls() || certificate_rejected(&e));
                Err(MailError {
                    code,
                    message: format!("SMTP delivery failed: {e}"),
                    retryable,
                })
            }
        }
    }
}

/// Whether a rustls certificate rejection is somewhere in `e`'s source chain
/// (lettre reports a failed STARTTLS handshake as a connection error).
fn certificate_rejected(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let tls = err.downcast_ref::<rustls::Error>().or_else(|| {
            err.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        if matches!(
            tls,
            Some(
                rustls::Error::InvalidCertificate(_)
                    | rustls::Error::NoCertificatesPresented
                    | rustls::Error::UnsupportedNameType
            )
        ) {
            return true;
        }
        cur = err.source();
    }
    false
}

fn code_of(c: lettre::transport::smtp::response::Code) -> u16 {
    c.to_string().parse().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked() {
        assert!(check_address("ops@example.com").is_ok());
        assert!(check_address("not an address").is_err());
        assert!(check_address("").is_err());
    }

    #[test]
    fn bad_from_is_rejected() {
        let cfg = SmtpConfig {
            from: "nobody".into(),
            ..SmtpConfig::default()
        };
        assert!(Mailer::new(&cfg, &[], Duration::from_secs(1)).is_err());
        assert!(Mailer::new(&SmtpConfig::default(), &[], Duration::from_secs(1)).is_ok());
    }
}
