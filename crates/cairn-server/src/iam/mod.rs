//! IAM and STS on the wire: the AWS query protocol (`Action=...` forms, XML answers) over
//! the identity domain of [`cairn_iam`].
//!
//! * [`api`] parses a request, looks its action up ([`cairn_iam::IamOp`],
//!   [`cairn_iam::StsOp`]) and runs the action's one function (in `users`, `roles`,
//!   `policies`, `devices`, `sts`), which authorizes through [`crate::authz::authorize`].
//! * [`wire`] renders a result for the client (XML) and for the audit record (JSON).
//!
//! The store itself is [`cairn_iam::Iam`]; it keeps its rows in the catalog's database,
//! which it reaches through [`cairn_iam::Database`].

pub mod api;
mod devices;
mod params;
mod policies;
mod roles;
mod sts;
mod users;
pub mod wire;
