//! IAM and STS (the AWS query protocol): parsed, authorized and run by `crate::iam::api`,
//! recorded as `iam.amazonaws.com` / `sts.amazonaws.com` (secrets left out), answered in XML.

use std::borrow::Cow;

use axum::response::Response;
use http::StatusCode;
use serde_json::Value;

use super::{Call, Reply, RequestCtx, Wire, respond};
use crate::iam::api::Service;
use crate::iam::wire::Node;

/// A query-protocol result: the action's `<…Result>` node (IAM, STS and SNS).
pub(crate) struct QueryReply {
    /// The action (`<{action}Response>`).
    pub(crate) action: String,
    /// The result.
    pub(crate) node: Node,
    /// `responseElements`.
    pub(crate) audit: Value,
}

impl Reply for QueryReply {
    fn audit_response(&self) -> Cow<'_, Value> {
        Cow::Borrowed(&self.audit)
    }

    fn render(self, wire: Wire, request_id: &str) -> Response {
        let Wire::Query(svc) = wire else {
            return wire.ok_json(&self.audit, request_id);
        };
        let body =
            crate::iam::wire::success_xml(svc.namespace(), &self.action, &self.node, request_id);
        respond(StatusCode::OK, body, "text/xml", request_id)
    }
}

/// Serves one IAM or STS call.
pub async fn handle(ctx: &RequestCtx, svc: Service) -> Response {
    let wire = Wire::Query(svc);
    let parsed =
        crate::iam::api::parse_request(svc, ctx.parts.uri.query().unwrap_or(""), &ctx.body);
    let req = match parsed {
        Ok(r) => r,
        Err(e) => return wire.error(&e, &ctx.request_id),
    };
    let request = crate::iam::api::audit_parameters(&req);
    let call = Call {
        event_source: svc.event_source(),
        event_name: &req.action,
        read_only: crate::iam::api::is_read_only(&req.action),
        request: &request,
        // IAM is a global service: its events are recorded in us-east-1, as AWS does.
        region: (svc == Service::Iam).then_some("us-east-1"),
    };
    let (env, req2) = (ctx.env(), req.clone());
    let work = ctx.blocking(move |st, caller| {
        let node = crate::iam::api::call(st, caller, &env, svc, &req2)?;
        Ok(QueryReply {
            audit: node.audit_json(),
            action: req2.action,
            node,
        })
    });
    ctx.run(wire, call, Ok(()), work).await
}
