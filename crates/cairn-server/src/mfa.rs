//! Virtual MFA devices: TOTP (RFC 6238, HMAC-SHA1, 6 digits, 30 s) per account.
//!
//! Secrets are 20 random bytes, sealed under the master key (context `mfa:<serial>`) in the
//! catalog's `mfa_devices` table; they leave the server only once, as the `otpauth://` URI
//! shown when the device is created. A device is usable after [`enable_device`] saw two
//! consecutive codes (as IAM's `EnableMFADevice`). [`verify_code`] accepts the current time
//! step and one on either side, and never the same or an older step twice (the newest
//! accepted step is stored), so a code cannot be replayed.
//!
//! S3 uses it for MFA delete: [`check_s3_header`] checks `x-amz-mfa: <serial> <code>`.

use aws_lc_rs::hmac;
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use time::OffsetDateTime;

use crate::catalog::Catalog;
use crate::secrets::MasterKey;

/// TOTP period in seconds.
pub const PERIOD: i64 = 30;

/// MFA failures, with IAM-style codes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MfaError {
    /// The device name is taken.
    #[error("MFA device {0} already exists")]
    AlreadyExists(String),
    /// No such device in the account.
    #[error("MFA device {0} does not exist")]
    NoSuchEntity(String),
    /// Wrong, reused or out-of-window code.
    #[error("the MFA authentication code is invalid or was already used")]
    InvalidAuthenticationCode,
    /// The device exists but is not enabled.
    #[error("MFA device {0} is not enabled")]
    NotEnabled(String),
    /// Bad input (name, code format).
    #[error("{0}")]
    Invalid(String),
    /// The device is in use (assigned to a user) and cannot be deleted or re-enabled.
    #[error("{0}")]
    Conflict(String),
    /// Catalog or sealing failure.
    #[error("mfa storage failure: {0}")]
    Internal(String),
}

impl MfaError {
    /// IAM's error code.
    pub fn code(&self) -> &'static str {
        match self {
            MfaError::AlreadyExists(_) => "EntityAlreadyExists",
            MfaError::NoSuchEntity(_) => "NoSuchEntity",
            MfaError::InvalidAuthenticationCode | MfaError::NotEnabled(_) => {
                "InvalidAuthenticationCode"
            }
            MfaError::Invalid(_) => "ValidationError",
            MfaError::Conflict(_) => "DeleteConflict",
            MfaError::Internal(_) => "ServiceFailure",
        }
    }
}

/// A device just created: its serial and the secret to show once.
pub struct NewDevice {
    /// `arn:aws:iam::<account>:mfa/<name>`.
    pub serial: String,
    /// Base32 secret (no padding), as authenticator apps take it.
    pub secret_base32: String,
    /// `otpauth://totp/...` URI (QR code content).
    pub otpauth_uri: String,
}

impl std::fmt::Debug for NewDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewDevice")
            .field("serial", &self.serial)
            .finish_non_exhaustive()
    }
}

/// A listed device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Serial (ARN).
    pub serial: String,
    /// Whether [`enable_device`] succeeded.
    pub enabled: bool,
    /// Creation time (epoch seconds).
    pub created: i64,
}

fn internal(e: impl std::fmt::Display) -> MfaError {
    MfaError::Internal(e.to_string())
}

/// RFC 4648 base32 without padding.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buf, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buf = (buf << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buf >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buf << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// The 6-digit TOTP code of `secret` at time step `step` (RFC 6238 / RFC 4226, HMAC-SHA1).
pub fn totp(secret: &[u8], step: i64) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = hmac::sign(&key, &step.to_be_bytes());
    let h = tag.as_ref();
    let off = (h[h.len() - 1] & 0x0f) as usize;
    let bin = (u32::from(h[off] & 0x7f) << 24)
        | (u32::from(h[off + 1]) << 16)
        | (u32::from(h[off + 2]) << 8)
        | u32::from(h[off + 3]);
    format!("{:06}", bin % 1_000_000)
}

fn step_of(now: OffsetDateTime) -> i64 {
    now.unix_timestamp().div_euclid(PERIOD)
}

fn serial_for(account: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:mfa/{name}")
}

fn context(serial: &str) -> String {
    format!("mfa:{serial}")
}

fn check_code_format(code: &str) -> Result<(), MfaError> {
    if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(MfaError::Invalid(
            "an MFA code is six decimal digits".to_owned(),
        ))
    }
}

/// Creates a virtual MFA device `name` in `account` (not yet enabled).
pub fn create_virtual_device(
    catalog: &Catalog,
    master: &MasterKey,
    account: &str,
    name: &str,
    now: OffsetDateTime,
) -> Result<NewDevice, MfaError> {
    if name.is_empty()
        || name.len() > 128
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
    {
        return Err(MfaError::Invalid(format!(
            "MFA device name `{name}` must be 1-128 of A-Z a-z 0-9 +=,.@_-"
        )));
    }
    let serial = serial_for(account, name);
    let secret: [u8; 20] = crate::secrets::random_bytes().map_err(internal)?;
    let sealed = master.seal(&context(&serial), &secret).map_err(internal)?;
    let inserted = catalog
        .with_conn(|c| {
            c.execute(
                "INSERT INTO mfa_devices (account_id, serial, sealed_secret, created)
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                params![account, serial, sealed, now.unix_timestamp()],
            )
        })
        .map_err(internal)?;
    if inserted == 0 {
        return Err(MfaError::AlreadyExists(serial));
    }
    let secret_base32 = base32(&secret);
    let otpauth_uri = format!(
        "otpauth://totp/Cairn:{account}%40{name}?secret={secret_base32}&issuer=Cairn&algorithm=SHA1&digits=6&period={PERIOD}"
    );
    Ok(NewDevice {
        serial,
        secret_base32,
        otpauth_uri,
    })
}

fn load(
    c: &rusqlite::Connection,
    account: &str,
    serial: &str,
) -> rusqlite::Result<Option<(Vec<u8>, bool, i64)>> {
    c.query_row(
        "SELECT sealed_secret, enabled, last_step FROM mfa_devices
         WHERE account_id = ?1 AND serial = ?2",
        params![account, serial],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .optional()
}

/// Enables a device after two consecutive codes (`code1` then `code2`) from the last few
/// minutes.
pub fn enable_device(
    catalog: &Catalog,
    master: &MasterKey,
    account: &str,
    serial: &str,
    code1: &str,
    code2: &str,
    now: OffsetDateTime,
) -> Result<(), MfaError> {
    check_code_format(code1)?;
    check_code_format(code2)?;
    catalog
        .with_conn(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some((sealed, _, _)) = load(&tx, account, serial)? else {
                return Ok(Err(MfaError::NoSuchEntity(serial.to_owned())));
            };
            let secret = match master.open(&context(serial), &sealed) {
                Ok(s) => s,
                Err(e) => return Ok(Err(internal(e))),
            };
            let cur = step_of(now);
            let found = ((cur - 10)..=cur)
                .find(|s| totp(&secret, *s) == code1 && totp(&secret, s + 1) == code2);
            let Some(s) = found else {
                return Ok(Err(MfaError::InvalidAuthenticationCode));
            };
            tx.execute(
                "UPDATE mfa_devices SET enabled = 1, last_step = ?3
                 WHERE account_id = ?1 AND serial = ?2",
                params![account, serial, s + 1],
            )?;
            tx.commit()?;
            Ok(Ok(()))
        })
        .map_err(internal)?
}

/// The account's devices.
pub fn list_devices(catalog: &Catalog, account: &str) -> Result<Vec<DeviceInfo>, MfaError> {
    catalog
        .with_conn(|c| {
            let mut stmt = c.prepare(
                "SELECT serial, enabled, created FROM mfa_devices WHERE account_id = ?1 ORDER BY serial",
            )?;
            let rows = stmt.query_map(params![account], |r| {
                Ok(DeviceInfo {
                    serial: r.get(0)?,
                    enabled: r.get(1)?,
                    created: r.get(2)?,
                })
            })?;
            rows.collect()
        })
        .map_err(internal)
}

/// Verifies `code` for an enabled device: the current time step or one on either side, newer
/// than any code accepted before (so a code is never accepted twice).
pub fn verify_code(
    catalog: &Catalog,
    master: &MasterKey,
    account: &str,
    serial: &str,
    code: &str,
    now: OffsetDateTime,
) -> Result<(), MfaError> {
    check_code_format(code).map_err(|_| MfaError::InvalidAuthenticationCode)?;
    catalog
        .with_conn(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some((sealed, enabled, last)) = load(&tx, account, serial)? else {
                return Ok(Err(MfaError::NoSuchEntity(serial.to_owned())));
            };
            if !enabled {
                return Ok(Err(MfaError::NotEnabled(serial.to_owned())));
            }
            let secret = match master.open(&context(serial), &sealed) {
                Ok(s) => s,
                Err(e) => return Ok(Err(internal(e))),
            };
            let cur = step_of(now);
            let Some(s) = ((cur - 1)..=(cur + 1)).find(|s| *s > last && totp(&secret, *s) == code)
            else {
                return Ok(Err(MfaError::InvalidAuthenticationCode));
            };
            tx.execute(
                "UPDATE mfa_devices SET last_step = ?3 WHERE account_id = ?1 AND serial = ?2",
                params![account, serial, s],
            )?;
            tx.commit()?;
            Ok(Ok(()))
        })
        .map_err(internal)?
}

/// Which IAM user each enabled device belongs to (IAM's `EnableMFADevice` assigns a device
/// to a user; a device enabled with `cairn mfa enable` belongs to the account's root).
const ASSIGNMENTS: &str = "CREATE TABLE IF NOT EXISTS mfa_assignments (
     account_id TEXT NOT NULL,
     serial TEXT NOT NULL,
     user_name TEXT NOT NULL,
     enable_date INTEGER NOT NULL,
     PRIMARY KEY (account_id, serial))";

/// A device enabled for an IAM user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// Serial (ARN).
    pub serial: String,
    /// The user it was enabled for.
    pub user_name: String,
    /// When it was enabled (epoch seconds).
    pub enable_date: i64,
}

/// The user `serial` is assigned to, if any.
pub fn device_user(
    catalog: &Catalog,
    account: &str,
    serial: &str,
) -> Result<Option<String>, MfaError> {
    catalog
        .with_conn(|c| {
            c.execute_batch(ASSIGNMENTS)?;
            c.query_row(
                "SELECT user_name FROM mfa_assignments WHERE account_id = ?1 AND serial = ?2",
                params![account, serial],
                |r| r.get(0),
            )
            .optional()
        })
        .map_err(internal)
}

/// IAM's `EnableMFADevice`: checks the two consecutive codes with [`enable_device`] and
/// assigns the device to `user`. A device already assigned is refused.
#[allow(clippy::too_many_arguments)]
pub fn enable_for_user(
    catalog: &Catalog,
    master: &MasterKey,
    account: &str,
    user: &str,
    serial: &str,
    code1: &str,
    code2: &str,
    now: OffsetDateTime,
) -> Result<(), MfaError> {
    if let Some(owner) = device_user(catalog, account, serial)? {
        return Err(MfaError::AlreadyExists(format!(
            "{serial} (already enabled for user {owner})"
        )));
    }
    if list_devices(catalog, account)?
        .iter()
        .any(|d| d.serial == serial && d.enabled)
    {
        return Err(MfaError::AlreadyExists(format!(
            "{serial} (already enabled for the account root)"
        )));
    }
    enable_device(catalog, master, account, serial, code1, code2, now)?;
    catalog
        .with_conn(|c| {
            c.execute_batch(ASSIGNMENTS)?;
            c.execute(
                "INSERT OR REPLACE INTO mfa_assignments (account_id, serial, user_name, enable_date)
                 VALUES (?1, ?2, ?3, ?4)",
                params![account, serial, user, now.unix_timestamp()],
            )
        })
        .map_err(internal)?;
    Ok(())
}

/// The devices enabled for IAM users of `account` (all users, or only `user`).
pub fn user_devices(
    catalog: &Catalog,
    account: &str,
    user: Option<&str>,
) -> Result<Vec<Assignment>, MfaError> {
    catalog
        .with_conn(|c| {
            c.execute_batch(ASSIGNMENTS)?;
            let mut stmt = c.prepare(
                "SELECT serial, user_name, enable_date FROM mfa_assignments
                 WHERE account_id = ?1 AND (?2 IS NULL OR user_name = ?2) ORDER BY serial",
            )?;
            let rows = stmt.query_map(params![account, user], |r| {
                Ok(Assignment {
                    serial: r.get(0)?,
                    user_name: r.get(1)?,
                    enable_date: r.get(2)?,
                })
            })?;
            rows.collect()
        })
        .map_err(internal)
}

/// IAM's `DeactivateMFADevice`: the device is no longer enabled nor assigned to `user`
/// (it stays, to be enabled again or deleted).
pub fn deactivate_for_user(
    catalog: &Catalog,
    account: &str,
    user: &str,
    serial: &str,
) -> Result<(), MfaError> {
    if device_user(catalog, account, serial)?.as_deref() != Some(user) {
        return Err(MfaError::NoSuchEntity(format!(
            "{serial} (not enabled for user {user})"
        )));
    }
    catalog
        .with_conn(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "DELETE FROM mfa_assignments WHERE account_id = ?1 AND serial = ?2",
                params![account, serial],
            )?;
            tx.execute(
                "UPDATE mfa_devices SET enabled = 0 WHERE account_id = ?1 AND serial = ?2",
                params![account, serial],
            )?;
            tx.commit()
        })
        .map_err(internal)
}

/// IAM's `DeleteVirtualMFADevice`: removes a device that is not enabled.
pub fn delete_device(catalog: &Catalog, account: &str, serial: &str) -> Result<(), MfaError> {
    let Some(d) = list_devices(catalog, account)?
        .into_iter()
        .find(|d| d.serial == serial)
    else {
        return Err(MfaError::NoSuchEntity(serial.to_owned()));
    };
    if d.enabled {
        return Err(MfaError::Conflict(format!(
            "MFA device {serial} is enabled: deactivate it first"
        )));
    }
    catalog
        .with_conn(|c| {
            c.execute(
                "DELETE FROM mfa_devices WHERE account_id = ?1 AND serial = ?2",
                params![account, serial],
            )
        })
        .map_err(internal)?;
    Ok(())
}

/// Checks S3's `x-amz-mfa: <serial> <code>` header against the bucket owner's devices.
/// The error is the message of S3's `AccessDenied`.
pub fn check_s3_header(
    state: &crate::state::AppState,
    owner: &str,
    header: Option<&str>,
    now: OffsetDateTime,
) -> Result<(), String> {
    let Some(h) = header.map(str::trim).filter(|h| !h.is_empty()) else {
        return Err("Mfa Authentication must be used for this request".to_owned());
    };
    let Some((serial, code)) = h.rsplit_once(' ') else {
        return Err("the x-amz-mfa header must be \"<serial> <code>\"".to_owned());
    };
    match verify_code(
        &state.catalog,
        &state.master,
        owner,
        serial.trim(),
        code.trim(),
        now,
    ) {
        Ok(()) => Ok(()),
        Err(MfaError::Internal(e)) => {
            tracing::error!(error = %e, "mfa verification failed");
            Err("MFA verification failed".to_owned())
        }
        Err(_) => Err(
            "Mfa Authentication must be used for this request: the MFA code is invalid".to_owned(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 rows (8 digits there; the low 6 digits here).
    #[test]
    fn rfc6238_known_answers() {
        let secret = b"12345678901234567890";
        for (t, eight) in [
            (59i64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
        ] {
            assert_eq!(totp(secret, t / PERIOD), eight[2..]);
        }
    }

    #[test]
    fn base32_known_answers() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(
            base32(b"12345678901234567890"),
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        );
    }

    #[test]
    fn lifecycle_of_a_device() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(dir.path()).unwrap();
        let master = MasterKey::from_bytes(&[1u8; 32]).unwrap();
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let d = create_virtual_device(&catalog, &master, "111", "root-mfa", now).unwrap();
        assert!(d.otpauth_uri.contains(&d.secret_base32));
        assert!(matches!(
            create_virtual_device(&catalog, &master, "111", "root-mfa", now),
            Err(MfaError::AlreadyExists(_))
        ));
        // The secret is stored sealed only.
        let raw: Vec<u8> = catalog
            .with_conn(|c| c.query_row("SELECT sealed_secret FROM mfa_devices", [], |r| r.get(0)))
            .unwrap();
        let secret = master.open(&context(&d.serial), &raw).unwrap();
        assert_eq!(base32(&secret), d.secret_base32);
        let step = step_of(now);
        // Not enabled yet: codes are refused.
        assert!(matches!(
            verify_code(
                &catalog,
                &master,
                "111",
                &d.serial,
                &totp(&secret, step),
                now
            ),
            Err(MfaError::NotEnabled(_))
        ));
        // Enabling needs two consecutive codes.
        let (c1, c2) = (totp(&secret, step - 1), totp(&secret, step));
        assert!(enable_device(&catalog, &master, "111", &d.serial, &c2, &c1, now).is_err());
        enable_device(&catalog, &master, "111", &d.serial, &c1, &c2, now).unwrap();
        assert!(list_devices(&catalog, "111").unwrap()[0].enabled);
        // A used code (or an older one) is refused; the next one works once.
        assert!(verify_code(&catalog, &master, "111", &d.serial, &c2, now).is_err());
        let next = totp(&secret, step + 1);
        verify_code(&catalog, &master, "111", &d.serial, &next, now).unwrap();
        assert!(verify_code(&catalog, &master, "111", &d.serial, &next, now).is_err());
        // Wrong account or wrong code.
        assert!(verify_code(&catalog, &master, "222", &d.serial, &next, now).is_err());
        let later = now + time::Duration::seconds(PERIOD * 5);
        assert!(verify_code(&catalog, &master, "111", &d.serial, "000000", later).is_err());
        verify_code(
            &catalog,
            &master,
            "111",
            &d.serial,
            &totp(&secret, step + 5),
            later,
        )
        .unwrap();
    }

    #[test]
    fn iam_assignment_deactivation_and_deletion() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(dir.path()).unwrap();
        let master = MasterKey::from_bytes(&[2u8; 32]).unwrap();
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let d = create_virtual_device(&catalog, &master, "111", "alice", now).unwrap();
        let raw: Vec<u8> = catalog
            .with_conn(|c| c.query_row("SELECT sealed_secret FROM mfa_devices", [], |r| r.get(0)))
            .unwrap();
        let secret = master.open(&context(&d.serial), &raw).unwrap();
        let step = step_of(now);
        let (c1, c2) = (totp(&secret, step - 1), totp(&secret, step));
        assert!(user_devices(&catalog, "111", None).unwrap().is_empty());
        enable_for_user(&catalog, &master, "111", "alice", &d.serial, &c1, &c2, now).unwrap();
        assert_eq!(
            device_user(&catalog, "111", &d.serial).unwrap().as_deref(),
            Some("alice")
        );
        assert_eq!(
            user_devices(&catalog, "111", Some("alice")).unwrap().len(),
            1
        );
        assert!(
            user_devices(&catalog, "111", Some("bob"))
                .unwrap()
                .is_empty()
        );
        // Already in use: neither re-enabled for another user nor deleted.
        assert!(matches!(
            enable_for_user(&catalog, &master, "111", "bob", &d.serial, &c1, &c2, now),
            Err(MfaError::AlreadyExists(_))
        ));
        assert!(matches!(
            delete_device(&catalog, "111", &d.serial),
            Err(MfaError::Conflict(_))
        ));
        assert!(deactivate_for_user(&catalog, "111", "bob", &d.serial).is_err());
        deactivate_for_user(&catalog, "111", "alice", &d.serial).unwrap();
        assert!(device_user(&catalog, "111", &d.serial).unwrap().is_none());
        assert!(!list_devices(&catalog, "111").unwrap()[0].enabled);
        delete_device(&catalog, "111", &d.serial).unwrap();
        assert!(list_devices(&catalog, "111").unwrap().is_empty());
    }
}
