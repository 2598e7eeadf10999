//! Helpers shared by the cairn-auth integration tests (`mod common;` in each).

use cairn_auth::{
    AuthError, Authenticated, Payload, RequestParts, StaticCredentialStore, Verifier,
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
    Verifier::default().verify(&p.request(&hv, payload), store, now)
}
