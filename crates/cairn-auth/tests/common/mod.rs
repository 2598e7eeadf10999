//! Helpers shared by the cairn-auth integration tests (`mod common;` in each).

use cairn_auth::{
    AuthError, Authenticated, Payload, Request, RequestParts, StaticCredentialStore, Verifier,
};
use time::OffsetDateTime;

/// Verifies the signed request `p` with `payload` against `store` at `now`, with the
/// default [`Verifier`].
pub(crate) fn verify_parts(
    p: &RequestParts,
    payload: Payload<'_>,
    store: &StaticCredentialStore,
    now: OffsetDateTime,
) -> Result<Authenticated, AuthError> {
    let hv = p.header_refs();
    let req = Request {
        method: &p.method,
        path: &p.path,
        query: &p.query,
        headers: &hv,
        payload,
    };
    Verifier::default().verify(&req, store, now)
}
