//! Virtual MFA devices: TOTP (RFC 6238, HMAC-SHA1, 6 digits, 30 s) per account.
//!
//! Secrets are 20 random bytes, sealed under the master key (context `mfa:<serial>`) in the
//! catalog's `mfa_devices` table; they leave the server only once, as the `otpauth://` URI
//! shown when the device is created. A device is usable after [`enable_device`] saw two
//! consecutive codes (as IAM's `EnableMFADevice`). [`verify_code`] accepts the current time
//! step and one on either side, and never the same or an older step twice (the newest
//! accepted step is stored), so a code cannot be replayed.
//!
//! S3 uses it for MFA delete: [`verify_root_code`] checks the root's device behind
//! `x-amz-mfa: <serial> <code>`.

use aws_lc_rs::hmac;
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use time::OffsetDateTime;

use cairn_core::secrets::MasterKey;

use crate::db::{Database, with_conn};

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
    /// Too many wrong codes for this device lately: every code is refused for a while.
    #[error("too many failed MFA attempts for {0}; try again later")]
    LockedOut(String),
    /// The device is not the account root's (S3 MFA delete takes only the root's device).
    #[error("MFA device {0} is not the account root's device")]
    NotRootDevice(String),
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
            MfaError::InvalidAuthenticationCode
            | MfaError::NotEnabled(_)
            | MfaError::LockedOut(_)
            | MfaError::NotRootDevice(_) => "InvalidAuthenticationCode",
            MfaError::Invalid(_) => "ValidationError",
            MfaError::Conflict(_) => "DeleteConflict",
            MfaError::Internal(_) => "ServiceFailure",
        }
    }

    /// Whether the error is the server's fault (storage or sealing).
    pub fn is_internal(&self) -> bool {
        matches!(self, MfaError::Internal(_))
    }
}

/// IAM's answers: 404 for an unknown device, 403 (with AWS's fixed message) for a wrong or
/// unusable code, 409 for a device in use, 400 for the rest.
impl cairn_core::AwsError for MfaError {
    fn code(&self) -> &'static str {
        MfaError::code(self)
    }

    fn status(&self) -> u16 {
        match self {
            MfaError::NoSuchEntity(_) => 404,
            MfaError::InvalidAuthenticationCode | MfaError::NotEnabled(_) => 403,
            MfaError::AlreadyExists(_) | MfaError::Conflict(_) => 409,
            MfaError::Internal(_) => 500,
            MfaError::Invalid(_) | MfaError::LockedOut(_) | MfaError::NotRootDevice(_) => 400,
        }
    }

    fn is_internal(&self) -> bool {
        MfaError::is_internal(self)
    }

    fn message(&self) -> String {
        match self {
            MfaError::InvalidAuthenticationCode | MfaError::NotEnabled(_) => {
                "Authentication code for the MFA device is not valid.".to_owned()
            }
            other => other.to_string(),
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
    db: &dyn Database,
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
    let secret: [u8; 20] = cairn_core::secrets::random_bytes().map_err(internal)?;
    let sealed = master.seal(&context(&serial), &secret).map_err(internal)?;
    let inserted = with_conn(db, |c| {
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
    db: &dyn Database,
    master: &MasterKey,
    account: &str,
    serial: &str,
    code1: &str,
    code2: &str,
    now: OffsetDateTime,
) -> Result<(), MfaError> {
    check_code_format(code1)?;
    check_code_format(code2)?;
    with_conn(db, |c| {
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
pub fn list_devices(db: &dyn Database, account: &str) -> Result<Vec<DeviceInfo>, MfaError> {
    with_conn(db, |c| {
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

/// Wrong codes a device takes within [`FAILURE_WINDOW`] seconds before it is locked.
pub const MAX_FAILURES: i64 = 5;
/// The window (seconds) failures are counted in.
pub const FAILURE_WINDOW: i64 = 300;
/// How long (seconds) a device refuses every code once locked.
pub const LOCKOUT: i64 = 900;

/// Failed verifications per device: `failures` since `window_start`, and the end of a
/// lockout. Kept beside `mfa_devices`, like the assignments table.
const FAILURES: &str = "CREATE TABLE IF NOT EXISTS mfa_failures (
     account_id TEXT NOT NULL,
     serial TEXT NOT NULL,
     window_start INTEGER NOT NULL,
     failures INTEGER NOT NULL,
     locked_until INTEGER NOT NULL,
     PRIMARY KEY (account_id, serial))";

/// The lockout state of a device at `now`: `Some(until)` while locked.
fn locked_until(
    c: &rusqlite::Connection,
    account: &str,
    serial: &str,
    now: i64,
) -> rusqlite::Result<Option<i64>> {
    let until: Option<i64> = c
        .query_row(
            "SELECT locked_until FROM mfa_failures WHERE account_id = ?1 AND serial = ?2",
            params![account, serial],
            |r| r.get(0),
        )
        .optional()?;
    Ok(until.filter(|u| *u > now))
}

/// Counts one failed verification; the [`MAX_FAILURES`]th within the window locks the
/// device for [`LOCKOUT`] seconds.
fn note_failure(
    c: &rusqlite::Connection,
    account: &str,
    serial: &str,
    now: i64,
) -> rusqlite::Result<()> {
    let row: Option<(i64, i64)> = c
        .query_row(
            "SELECT window_start, failures FROM mfa_failures WHERE account_id = ?1 AND serial = ?2",
            params![account, serial],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (start, failures) = match row {
        Some((start, n)) if now - start < FAILURE_WINDOW => (start, n + 1),
        _ => (now, 1),
    };
    let locked = if failures >= MAX_FAILURES {
        now + LOCKOUT
    } else {
        0
    };
    // A lockout restarts the count, so the next window starts after it.
    let (start, failures) = if locked > 0 {
        (locked, 0)
    } else {
        (start, failures)
    };
    c.execute(
        "INSERT INTO mfa_failures (account_id, serial, window_start, failures, locked_until)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (account_id, serial) DO UPDATE SET window_start = ?3, failures = ?4,
             locked_until = MAX(locked_until, ?5)",
        params![account, serial, start, failures, locked],
    )?;
    Ok(())
}

/// Verifies `code` for an enabled device: the current time step or one on either side, newer
/// than any code accepted before (so a code is never accepted twice). Wrong, reused or
/// malformed codes count as failures: after [`MAX_FAILURES`] within [`FAILURE_WINDOW`]
/// seconds the device refuses every code ([`MfaError::LockedOut`]) for [`LOCKOUT`] seconds,
/// so six digits cannot be guessed. A success clears the count.
pub fn verify_code(
    db: &dyn Database,
    master: &MasterKey,
    account: &str,
    serial: &str,
    code: &str,
    now: OffsetDateTime,
) -> Result<(), MfaError> {
    let now_s = now.unix_timestamp();
    with_conn(db, |c| {
        c.execute_batch(FAILURES)?;
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let Some((sealed, enabled, last)) = load(&tx, account, serial)? else {
            return Ok(Err(MfaError::NoSuchEntity(serial.to_owned())));
        };
        if !enabled {
            return Ok(Err(MfaError::NotEnabled(serial.to_owned())));
        }
        if locked_until(&tx, account, serial, now_s)?.is_some() {
            return Ok(Err(MfaError::LockedOut(serial.to_owned())));
        }
        let secret = match master.open(&context(serial), &sealed) {
            Ok(s) => s,
            Err(e) => return Ok(Err(internal(e))),
        };
        let cur = step_of(now);
        let found = check_code_format(code).ok().and_then(|()| {
            ((cur - 1)..=(cur + 1)).find(|s| *s > last && totp(&secret, *s) == code)
        });
        let Some(s) = found else {
            note_failure(&tx, account, serial, now_s)?;
            tx.commit()?;
            return Ok(Err(MfaError::InvalidAuthenticationCode));
        };
        tx.execute(
            "UPDATE mfa_devices SET last_step = ?3 WHERE account_id = ?1 AND serial = ?2",
            params![account, serial, s],
        )?;
        tx.execute(
            "DELETE FROM mfa_failures WHERE account_id = ?1 AND serial = ?2",
            params![account, serial],
        )?;
        tx.commit()?;
        Ok(Ok(()))
    })
    .map_err(internal)?
}

/// [`verify_code`] for a device of the account's root user: enabled with `cairn mfa enable`,
/// not assigned to any IAM user. S3 MFA delete takes only these.
pub fn verify_root_code(
    db: &dyn Database,
    master: &MasterKey,
    account: &str,
    serial: &str,
    code: &str,
    now: OffsetDateTime,
) -> Result<(), MfaError> {
    if device_user(db, account, serial)?.is_some() {
        return Err(MfaError::NotRootDevice(serial.to_owned()));
    }
    verify_code(db, master, account, serial, code, now)
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
    db: &dyn Database,
    account: &str,
    serial: &str,
) -> Result<Option<String>, MfaError> {
    with_conn(db, |c| {
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

/// IAM's `EnableMFADevice`: checks the two consecutive codes (`code1` then `code2`) with
/// [`enable_device`] and
/// assigns the device to `user`. A device already assigned is refused.
pub fn enable_for_user(
    db: &dyn Database,
    master: &MasterKey,
    account: &str,
    user: &str,
    serial: &str,
    (code1, code2): (&str, &str),
    now: OffsetDateTime,
) -> Result<(), MfaError> {
    if let Some(owner) = device_user(db, account, serial)? {
        return Err(MfaError::AlreadyExists(format!(
            "{serial} (already enabled for user {owner})"
        )));
    }
    if list_devices(db, account)?
        .iter()
        .any(|d| d.serial == serial && d.enabled)
    {
        return Err(MfaError::AlreadyExists(format!(
            "{serial} (already enabled for the account root)"
        )));
    }
    enable_device(db, master, account, serial, code1, code2, now)?;
    with_conn(db, |c| {
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
    db: &dyn Database,
    account: &str,
    user: Option<&str>,
) -> Result<Vec<Assignment>, MfaError> {
    with_conn(db, |c| {
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
    db: &dyn Database,
    account: &str,
    user: &str,
    serial: &str,
) -> Result<(), MfaError> {
    if device_user(db, account, serial)?.as_deref() != Some(user) {
        return Err(MfaError::NoSuchEntity(format!(
            "{serial} (not enabled for user {user})"
        )));
    }
    with_conn(db, |c| {
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
pub fn delete_device(db: &dyn Database, account: &str, serial: &str) -> Result<(), MfaError> {
    let Some(d) = list_devices(db, account)?
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
    with_conn(db, |c| {
        c.execute(
            "DELETE FROM mfa_devices WHERE account_id = ?1 AND serial = ?2",
            params![account, serial],
        )
    })
    .map_err(internal)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tests' clock: unix time 1,800,000,000.
    fn test_now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    /// The TOTP secret of device `serial` as stored: read sealed from its row and opened.
    fn stored_secret(
        catalog: &dyn Database,
        master: &MasterKey,
        serial: &str,
    ) -> zeroize::Zeroizing<Vec<u8>> {
        let raw: Vec<u8> = with_conn(catalog, |c| {
            c.query_row(
                "SELECT sealed_secret FROM mfa_devices WHERE serial = ?1",
                [serial],
                |r| r.get(0),
            )
        })
        .unwrap();
        master.open(&context(serial), &raw).unwrap()
    }

    /// A fresh store and a master key from `seed`, with the device `name` of account 111
    /// created at [`test_now`], and its stored secret.
    fn new_device(
        seed: u8,
        name: &str,
    ) -> (
        std::sync::Arc<std::sync::Mutex<rusqlite::Connection>>,
        MasterKey,
        NewDevice,
        zeroize::Zeroizing<Vec<u8>>,
    ) {
        let db = crate::db::test_db();
        let master = MasterKey::from_bytes(&[seed; 32]).unwrap();
        let d = create_virtual_device(&*db, &master, "111", name, test_now()).unwrap();
        let secret = stored_secret(&*db, &master, &d.serial);
        (db, master, d, secret)
    }

    #[test]
    fn error_codes_statuses_and_messages() {
        use cairn_core::AwsError;
        let s = |m: &str| m.to_owned();
        let cases = [
            (
                MfaError::AlreadyExists(s("d")),
                "EntityAlreadyExists",
                409,
                false,
            ),
            (MfaError::NoSuchEntity(s("d")), "NoSuchEntity", 404, false),
            (
                MfaError::InvalidAuthenticationCode,
                "InvalidAuthenticationCode",
                403,
                false,
            ),
            (
                MfaError::NotEnabled(s("d")),
                "InvalidAuthenticationCode",
                403,
                false,
            ),
            (
                MfaError::LockedOut(s("d")),
                "InvalidAuthenticationCode",
                400,
                false,
            ),
            (
                MfaError::NotRootDevice(s("d")),
                "InvalidAuthenticationCode",
                400,
                false,
            ),
            (MfaError::Invalid(s("d")), "ValidationError", 400, false),
            (MfaError::Conflict(s("d")), "DeleteConflict", 409, false),
            (MfaError::Internal(s("d")), "ServiceFailure", 500, true),
        ];
        for (e, code, status, internal) in cases {
            assert_eq!(AwsError::code(&e), code, "{e:?}");
            assert_eq!(AwsError::status(&e), status, "{e:?}");
            assert_eq!(AwsError::is_internal(&e), internal, "{e:?}");
        }
        assert_eq!(
            AwsError::message(&MfaError::NotEnabled(s("d"))),
            "Authentication code for the MFA device is not valid."
        );
        assert!(AwsError::message(&MfaError::LockedOut(s("dev"))).contains("dev"));
    }

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
        let (db, master, d, secret) = new_device(1, "root-mfa");
        let catalog: &dyn Database = &*db;
        let now = test_now();
        assert!(d.otpauth_uri.contains(&d.secret_base32));
        assert!(matches!(
            create_virtual_device(catalog, &master, "111", "root-mfa", now),
            Err(MfaError::AlreadyExists(_))
        ));
        // The secret is stored sealed only.
        assert_eq!(base32(&secret), d.secret_base32);
        let step = step_of(now);
        let verify = |code: &str, at: OffsetDateTime| {
            verify_code(catalog, &master, "111", &d.serial, code, at)
        };
        // Not enabled yet: codes are refused.
        assert!(matches!(
            verify(&totp(&secret, step), now),
            Err(MfaError::NotEnabled(_))
        ));
        // Enabling needs two consecutive codes.
        let (c1, c2) = (totp(&secret, step - 1), totp(&secret, step));
        assert!(enable_device(catalog, &master, "111", &d.serial, &c2, &c1, now).is_err());
        enable_device(catalog, &master, "111", &d.serial, &c1, &c2, now).unwrap();
        assert!(list_devices(catalog, "111").unwrap()[0].enabled);
        // A used code (or an older one) is refused; the next one works once.
        assert!(verify(&c2, now).is_err());
        let next = totp(&secret, step + 1);
        verify(&next, now).unwrap();
        assert!(verify(&next, now).is_err());
        // Wrong account or wrong code.
        assert!(verify_code(catalog, &master, "222", &d.serial, &next, now).is_err());
        let later = now + time::Duration::seconds(PERIOD * 5);
        assert!(verify("000000", later).is_err());
        verify(&totp(&secret, step + 5), later).unwrap();
    }

    /// Five wrong codes within the window lock the device: every code, the right one too,
    /// is refused until the lockout ends; a success clears the count.
    #[test]
    fn wrong_codes_lock_the_device_for_a_while() {
        let (db, master, d, secret) = new_device(4, "root");
        let catalog: &dyn Database = &*db;
        let now = test_now();
        let step = step_of(now);
        let (c1, c2) = (totp(&secret, step - 2), totp(&secret, step - 1));
        enable_device(catalog, &master, "111", &d.serial, &c1, &c2, now).unwrap();
        let valid: Vec<String> = (step - 3..=step + 3).map(|s| totp(&secret, s)).collect();
        let wrong = (0..)
            .map(|n| format!("{n:06}"))
            .find(|c| !valid.contains(c))
            .unwrap();
        let verify = |code: &str, at: OffsetDateTime| {
            verify_code(catalog, &master, "111", &d.serial, code, at)
        };
        // Four failures, then a success: the count starts again.
        for _ in 0..4 {
            assert!(matches!(
                verify(&wrong, now),
                Err(MfaError::InvalidAuthenticationCode)
            ));
        }
        verify(&totp(&secret, step), now).unwrap();
        for _ in 0..4 {
            assert!(verify("12345", now).is_err(), "malformed codes count too");
        }
        // The fifth failure in the window locks the device.
        assert!(matches!(
            verify(&wrong, now),
            Err(MfaError::InvalidAuthenticationCode)
        ));
        // Locked: the right code is refused, until the lockout ends.
        assert!(matches!(
            verify(&totp(&secret, step + 1), now),
            Err(MfaError::LockedOut(_))
        ));
        let later = now + time::Duration::seconds(LOCKOUT + 1);
        let later_step = step_of(later);
        verify(&totp(&secret, later_step), later).unwrap();
        // S3 MFA delete takes only the root's devices: one assigned to a user is refused.
        let u = create_virtual_device(catalog, &master, "111", "user-phone", now).unwrap();
        let us = stored_secret(catalog, &master, &u.serial);
        let (u1, u2) = (totp(&us, step - 2), totp(&us, step - 1));
        enable_for_user(
            catalog,
            &master,
            "111",
            "mallory",
            &u.serial,
            (&u1, &u2),
            now,
        )
        .unwrap();
        assert!(matches!(
            verify_root_code(catalog, &master, "111", &u.serial, &totp(&us, step), now),
            Err(MfaError::NotRootDevice(_))
        ));
        verify_code(catalog, &master, "111", &u.serial, &totp(&us, step), now).unwrap();
    }

    #[test]
    fn iam_assignment_deactivation_and_deletion() {
        let (db, master, d, secret) = new_device(2, "alice");
        let catalog: &dyn Database = &*db;
        let now = test_now();
        let step = step_of(now);
        let (c1, c2) = (totp(&secret, step - 1), totp(&secret, step));
        assert!(user_devices(catalog, "111", None).unwrap().is_empty());
        enable_for_user(catalog, &master, "111", "alice", &d.serial, (&c1, &c2), now).unwrap();
        assert_eq!(
            device_user(catalog, "111", &d.serial).unwrap().as_deref(),
            Some("alice")
        );
        assert_eq!(
            user_devices(catalog, "111", Some("alice")).unwrap().len(),
            1
        );
        assert!(
            user_devices(catalog, "111", Some("bob"))
                .unwrap()
                .is_empty()
        );
        // Already in use: neither re-enabled for another user nor deleted.
        assert!(matches!(
            enable_for_user(catalog, &master, "111", "bob", &d.serial, (&c1, &c2), now),
            Err(MfaError::AlreadyExists(_))
        ));
        assert!(matches!(
            delete_device(catalog, "111", &d.serial),
            Err(MfaError::Conflict(_))
        ));
        assert!(deactivate_for_user(catalog, "111", "bob", &d.serial).is_err());
        deactivate_for_user(catalog, "111", "alice", &d.serial).unwrap();
        assert!(device_user(catalog, "111", &d.serial).unwrap().is_none());
        assert!(!list_devices(catalog, "111").unwrap()[0].enabled);
        delete_device(catalog, "111", &d.serial).unwrap();
        assert!(list_devices(catalog, "111").unwrap().is_empty());
    }
}
