//! Virtual MFA devices over IAM: one function per operation ([`cairn_iam::mfa`] holds the
//! devices, their codes and the lockout).

use base64::Engine as _;
use cairn_auth::Principal;
use cairn_iam::IamError;
use cairn_iam::mfa::{self, Assignment};

use super::params::{Ctx, iso};
use super::wire::Node;
use crate::error::ApiError;

/// `CreateVirtualMFADevice`: the seed is in the answer, never in the audit record.
pub(super) fn create_virtual_mfa_device(c: &Ctx<'_>) -> Result<Node, ApiError> {
    let name = c.p.name("VirtualMFADeviceName", 226)?;
    if c.p.path()? != "/" {
        return Err(IamError::NotImplemented("CreateVirtualMFADevice with a Path".into()).into());
    }
    let acct = c.acct();
    c.allow(&format!("arn:aws:iam::{acct}:mfa/{name}"))?;
    let d = mfa::create_virtual_device(&*c.state.catalog, &c.state.master, acct, name, c.env.now)?;
    // Base32StringSeed is a blob: base64 of the base32 text, as IAM returns it.
    // QRCodePNG is not returned (no PNG encoder in the tree; the seed is enough).
    let seed = base64::engine::general_purpose::STANDARD.encode(&d.secret_base32);
    Ok(Node::Struct(vec![(
        "VirtualMFADevice",
        Node::Struct(vec![
            ("SerialNumber", Node::text(&d.serial)),
            ("Base32StringSeed", Node::Secret(seed)),
        ]),
    )]))
}

/// `EnableMFADevice`.
pub(super) fn enable_mfa_device(c: &Ctx<'_>) -> Result<Node, ApiError> {
    let name = c.p.name("UserName", 64)?;
    let serial = c.p.req("SerialNumber")?;
    let codes = (
        c.p.req("AuthenticationCode1")?,
        c.p.req("AuthenticationCode2")?,
    );
    c.allow(&c.user_res(name))?;
    c.state.iam.user(c.acct(), name)?;
    mfa::enable_for_user(
        &*c.state.catalog,
        &c.state.master,
        c.acct(),
        name,
        serial,
        codes,
        c.env.now,
    )?;
    Ok(Node::empty())
}

/// The root user's own devices: those enabled with `cairn mfa enable` (used for S3 MFA
/// delete), i.e. enabled and assigned to no IAM user.
fn root_devices(c: &Ctx<'_>, account_id: &str) -> Result<Vec<Assignment>, ApiError> {
    let db = &*c.state.catalog;
    let assigned: Vec<String> = mfa::user_devices(db, c.acct(), None)?
        .into_iter()
        .map(|a| a.serial)
        .collect();
    Ok(mfa::list_devices(db, c.acct())?
        .into_iter()
        .filter(|d| d.enabled && !assigned.contains(&d.serial))
        .map(|d| Assignment {
            serial: d.serial,
            user_name: account_id.to_owned(),
            enable_date: d.created,
        })
        .collect())
}

/// `ListMFADevices`: a user's devices, or the root's when root asks without a name.
pub(super) fn list_mfa_devices(c: &Ctx<'_>) -> Result<Node, ApiError> {
    let devices = if c.p.opt("UserName").is_none()
        && let Principal::Root { account_id } = &c.caller.principal
    {
        root_devices(c, account_id)?
    } else {
        let name = c.allowed_target_user()?;
        c.state.iam.user(c.acct(), &name)?;
        mfa::user_devices(&*c.state.catalog, c.acct(), Some(&name))?
    };
    Ok(c.p.page("MFADevices", &devices, |d| {
        Node::Struct(vec![
            ("UserName", Node::text(&d.user_name)),
            ("SerialNumber", Node::text(&d.serial)),
            ("EnableDate", Node::text(iso(d.enable_date))),
        ])
    })?)
}

/// `DeactivateMFADevice`.
pub(super) fn deactivate_mfa_device(c: &Ctx<'_>) -> Result<Node, ApiError> {
    let name = c.p.name("UserName", 64)?;
    let serial = c.p.req("SerialNumber")?;
    c.allow(&c.user_res(name))?;
    mfa::deactivate_for_user(&*c.state.catalog, c.acct(), name, serial)?;
    Ok(Node::empty())
}

/// `DeleteVirtualMFADevice`.
pub(super) fn delete_virtual_mfa_device(c: &Ctx<'_>) -> Result<Node, ApiError> {
    let serial = c.p.req("SerialNumber")?;
    c.allow(serial)?;
    mfa::delete_device(&*c.state.catalog, c.acct(), serial)?;
    Ok(Node::empty())
}
