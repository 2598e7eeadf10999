//! `cairn policy simulate` and `cairn iam init-org`.
//!
//! `simulate` decides one request with AWS's evaluation logic (`cairn_policy::simulate`) and
//! prints `cairn_policy::explain`: the verdict, the reason, the statements that applied and
//! the near misses (statements defeated only by a condition, with each failed test). The
//! principal's identity policies come from policy files (offline) or, with `--server`, from a
//! running Cairn through the IAM API (the caller needs `iam:List*`/`iam:Get*` on them).
//!
//! `init-org` lays out an organization the way AWS recommends: an admin role in the
//! management account, a log-archive account owning the trail bucket, and a security account
//! with a read-only auditor role assumable from the management account.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use cairn_policy::{ContextValue, Policy, PolicySet, PrincipalInfo, Request};
use clap::Args;

use crate::client::Client;

/// `cairn policy simulate` arguments.
#[derive(Debug, Args)]
pub(crate) struct SimulateArgs {
    /// The principal: `arn:aws:iam::ACCOUNT:user/NAME`, `arn:aws:iam::ACCOUNT:role/NAME`
    /// (simulated as a session of the role), an assumed-role ARN or `arn:aws:iam::ACCOUNT:root`.
    #[arg(long)]
    principal: String,
    /// The action, e.g. `cloudtrail:StopLogging`.
    #[arg(long)]
    action: String,
    /// The resource ARN (default `*`).
    #[arg(long, default_value = "*")]
    resource: String,
    /// The account owning the resource when it is not the principal's (cross-account).
    #[arg(long, value_name = "ACCOUNT")]
    resource_account: Option<String>,
    /// An identity policy document (JSON file); repeat for several.
    #[arg(long = "policy-file", value_name = "FILE")]
    policy_files: Vec<PathBuf>,
    /// The resource's policy (bucket, key or trust policy), a JSON file.
    #[arg(long, value_name = "FILE")]
    resource_policy_file: Option<PathBuf>,
    /// A condition key, `key=value` (`true`/`false` are booleans; repeat a key for a
    /// multi-valued key), e.g. `aws:MultiFactorAuthPresent=false`.
    #[arg(long = "context", value_name = "KEY=VALUE")]
    context: Vec<String>,
    /// Fetch the principal's identity policies from a running server (IAM API, credentials
    /// from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY of the principal's account).
    #[arg(long)]
    server: bool,
    /// Server URL for --server (default: AWS_ENDPOINT_URL, else http://127.0.0.1:4590).
    #[arg(long, value_name = "URL")]
    endpoint_url: Option<String>,
    /// Print the decision as JSON.
    #[arg(long)]
    json: bool,
}

fn parse_file(path: &PathBuf) -> Result<Policy> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Policy::parse(&text).with_context(|| format!("policy {}", path.display()))
}

/// The principal of the simulation, from an ARN.
fn principal(arn: &str) -> Result<PrincipalInfo> {
    if let Some((prefix, name)) = arn.split_once(":role/") {
        let account = prefix.rsplit(':').next().unwrap_or_default();
        let role = name.rsplit('/').next().unwrap_or(name);
        return Ok(PrincipalInfo::assumed_role(&format!(
            "arn:aws:sts::{account}:assumed-role/{role}/cairn-simulate"
        ))
        .with_role_arn(arn));
    }
    PrincipalInfo::from_arn(arn)
        .with_context(|| format!("{arn} is not a root, user, role or assumed-role ARN"))
}

/// Minimal reading of our own query-protocol XML: the text of every `<tag>` element.
fn xml_texts(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        rest = &rest[i + open.len()..];
        let Some(j) = rest.find(&close) else { break };
        let text = rest[..j]
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&");
        out.push(text);
        rest = &rest[j + close.len()..];
    }
    out
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Calls one IAM action and returns the XML body; an error reply is an error.
pub(crate) fn iam_call(client: &Client, action: &str, params: &[(&str, &str)]) -> Result<String> {
    let mut pairs = vec![("Action", action), ("Version", "2010-05-08")];
    pairs.extend_from_slice(params);
    let reply = client.post(
        "iam",
        "/",
        "application/x-www-form-urlencoded; charset=utf-8",
        form(&pairs).as_bytes(),
    )?;
    let body = String::from_utf8_lossy(&reply.body).into_owned();
    if reply.status != 200 {
        let code = xml_text(&body, "Code");
        let message = xml_text(&body, "Message");
        bail!("{action} failed (HTTP {}, {code}): {message}", reply.status);
    }
    Ok(body)
}

/// The text of the first `<tag>` element of `xml`, empty when there is none.
fn xml_text(xml: &str, tag: &str) -> String {
    xml_texts(xml, tag).into_iter().next().unwrap_or_default()
}

fn decode(doc: &str) -> String {
    percent_encoding::percent_decode_str(doc)
        .decode_utf8_lossy()
        .into_owned()
}

/// The identity policies of a user or role, read through the IAM API.
fn server_policies(client: &Client, arn: &str) -> Result<Vec<(String, Policy)>> {
    let mut out = Vec::new();
    let (is_user, name) = if let Some((_, n)) = arn.split_once(":user/") {
        (true, n.rsplit('/').next().unwrap_or(n))
    } else if let Some((_, n)) = arn.split_once(":role/") {
        (false, n.rsplit('/').next().unwrap_or(n))
    } else {
        bail!("--server needs a user or role ARN, not {arn}");
    };
    let attached = if is_user {
        iam_call(client, "ListAttachedUserPolicies", &[("UserName", name)])?
    } else {
        iam_call(client, "ListAttachedRolePolicies", &[("RoleName", name)])?
    };
    for policy_arn in xml_texts(&attached, "PolicyArn") {
        let v = iam_call(
            client,
            "GetPolicyVersion",
            &[("PolicyArn", &policy_arn), ("VersionId", "v1")],
        )?;
        let doc = xml_text(&v, "Document");
        let p = Policy::parse(&decode(&doc)).with_context(|| format!("policy {policy_arn}"))?;
        out.push((policy_arn, p));
    }
    if is_user {
        let names = iam_call(client, "ListUserPolicies", &[("UserName", name)])?;
        for policy in xml_texts(&names, "member") {
            let v = iam_call(
                client,
                "GetUserPolicy",
                &[("UserName", name), ("PolicyName", &policy)],
            )?;
            let doc = xml_text(&v, "PolicyDocument");
            let p = Policy::parse(&decode(&doc)).with_context(|| format!("inline {policy}"))?;
            out.push((format!("user/{name}/{policy}"), p));
        }
    }
    Ok(out)
}

/// `cairn policy simulate`.
pub(crate) fn simulate(args: &SimulateArgs) -> Result<()> {
    let principal = principal(&args.principal)?;
    let mut identity = Vec::new();
    for f in &args.policy_files {
        identity.push((f.display().to_string(), parse_file(f)?));
    }
    if args.server {
        let client = Client::from_env("IAM", args.endpoint_url.clone(), Some("us-east-1".into()))?;
        identity.extend(server_policies(&client, &args.principal)?);
    }
    let resource = match &args.resource_policy_file {
        Some(f) => Some((f.display().to_string(), parse_file(f)?)),
        None => None,
    };
    let mut request = Request::new(principal, &args.action, &args.resource);
    if let Some(a) = &args.resource_account {
        request = request.with_resource_account(a);
    }
    let mut context: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for c in &args.context {
        let Some((k, v)) = c.split_once('=') else {
            bail!("--context {c}: expected KEY=VALUE");
        };
        context.entry(k.to_owned()).or_default().push(v.to_owned());
    }
    for (k, mut values) in context {
        let value: ContextValue = if values.len() > 1 {
            values.into()
        } else {
            match values.pop().unwrap_or_default().as_str() {
                "true" => true.into(),
                "false" => false.into(),
                other => other.into(),
            }
        };
        request = request.with_context(&k, value);
    }
    let set = PolicySet {
        identity,
        resource,
        ..PolicySet::default()
    };
    let decision = cairn_policy::simulate(&request, &set);
    if args.json {
        let v = serde_json::json!({
            "decision": format!("{:?}", decision.effect),
            "reason": decision.reason,
            "matched": decision.matched,
            "nearMisses": decision.near_misses.iter().map(|n| serde_json::json!({
                "statement": n.statement,
                "failures": n.failures.iter().map(|f| format!("{} {}: {}", f.operator, f.key, f.reason)).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        });
        println!("{v:#}");
    } else {
        print!("{}", cairn_policy::explain(&decision));
    }
    Ok(())
}

/// `cairn iam init-org` arguments (besides the data directory and config).
#[derive(Debug, Args)]
pub(crate) struct InitOrgArgs {
    /// The member account that owns the trail bucket (default: the first member).
    #[arg(long, value_name = "ACCOUNT")]
    log_archive_account: Option<String>,
    /// The member account for the read-only auditor role (default: the second member).
    #[arg(long, value_name = "ACCOUNT")]
    security_account: Option<String>,
    /// The trail bucket to create in the log-archive account
    /// (default `cairn-trail-logs-<log-archive account>`).
    #[arg(long)]
    bucket: Option<String>,
    /// Server URL (default: AWS_ENDPOINT_URL, else http://127.0.0.1:4590).
    #[arg(long, value_name = "URL")]
    endpoint_url: Option<String>,
}

/// Trust policy naming an account's principals (delegation to its identity policies).
fn account_trust(account: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{account}:root")},
            "Action": "sts:AssumeRole"
        }]
    })
    .to_string()
}

/// Creates a role (or reports that it exists) and attaches `policies`.
fn ensure_role(
    client: &Client,
    account: &str,
    name: &str,
    trust: &str,
    description: &str,
    policies: &[&str],
) -> Result<()> {
    match iam_call(
        client,
        "CreateRole",
        &[
            ("RoleName", name),
            ("AssumeRolePolicyDocument", trust),
            ("Description", description),
        ],
    ) {
        Ok(_) => println!("created role arn:aws:iam::{account}:role/{name}"),
        Err(e) if e.to_string().contains("EntityAlreadyExists") => {
            println!("role arn:aws:iam::{account}:role/{name} already exists")
        }
        Err(e) => return Err(e),
    }
    for p in policies {
        iam_call(
            client,
            "AttachRolePolicy",
            &[("RoleName", name), ("PolicyArn", p)],
        )?;
        println!("  attached {p}");
    }
    Ok(())
}

/// `cairn iam init-org`: needs a running server and the accounts' root credentials from the
/// data directory (`root_of`), and creates the bucket in the catalog.
pub(crate) fn init_org(
    config: &cairn_server::config::Config,
    root_of: &dyn Fn(&str) -> Result<(String, String)>,
    create_bucket: &dyn Fn(&str, &str) -> Result<bool>,
    args: &InitOrgArgs,
) -> Result<()> {
    let Some(org) = &config.organization else {
        bail!("no [organization] is configured: add one with at least two member accounts");
    };
    let members: Vec<String> = org.member_accounts.iter().map(|a| a.to_string()).collect();
    let pick = |given: &Option<String>, index: usize, what: &str| -> Result<String> {
        let a = match given {
            Some(a) => a.clone(),
            None => members.get(index).cloned().with_context(|| {
                format!("the organization needs a member account for the {what} account (or pass --{what}-account)")
            })?,
        };
        if !members.contains(&a) {
            bail!("{a} is not a member account of the organization");
        }
        Ok(a)
    };
    let log_archive = pick(&args.log_archive_account, 0, "log-archive")?;
    let security = pick(&args.security_account, 1, "security")?;
    if log_archive == security {
        bail!("the log-archive and security accounts must differ");
    }
    let management = config.account_id.to_string();
    let client_for = |account: &str| -> Result<Client> {
        let (key, secret) = root_of(account)?;
        Client::with_keys(args.endpoint_url.clone(), "us-east-1", key, secret)
    };

    println!("management account {management}:");
    ensure_role(
        &client_for(&management)?,
        &management,
        "OrganizationAdmin",
        &account_trust(&management),
        "Administers the organization; assumable by the management account's principals allowed sts:AssumeRole",
        &["arn:aws:iam::aws:policy/AdministratorAccess"],
    )?;

    println!("log-archive account {log_archive}:");
    let bucket = args
        .bucket
        .clone()
        .unwrap_or_else(|| format!("cairn-trail-logs-{log_archive}"));
    // `create_bucket` reports what it created.
    if !create_bucket(&bucket, &log_archive)? {
        println!("bucket {bucket} already exists");
    }

    println!("security account {security}:");
    ensure_role(
        &client_for(&security)?,
        &security,
        "SecurityAuditor",
        &account_trust(&management),
        "Read-only auditing of trails and logs, assumable from the management account",
        &[
            "arn:aws:iam::aws:policy/ReadOnlyAccess",
            "arn:aws:iam::aws:policy/AWSCloudTrail_ReadOnlyAccess",
        ],
    )?;
    println!(
        "next: create a trail delivering to {bucket} (e.g. an organization trail in {management}), \
         give administrators IAM users allowed sts:AssumeRole on the roles above, and keep the \
         root credentials for setup only"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_texts_reads_our_responses() {
        let xml = "<R><AttachedPolicies><member><PolicyName>a</PolicyName><PolicyArn>arn:1</PolicyArn></member><member><PolicyArn>arn:&amp;2</PolicyArn></member></AttachedPolicies></R>";
        assert_eq!(xml_texts(xml, "PolicyArn"), vec!["arn:1", "arn:&2"]);
        assert!(xml_texts(xml, "Nope").is_empty());
    }

    #[test]
    fn principals_from_arns() {
        let p = principal("arn:aws:iam::111111111111:role/ops/auditor").unwrap();
        assert_eq!(
            p.principal_arn(),
            "arn:aws:iam::111111111111:role/ops/auditor"
        );
        assert!(principal("arn:aws:s3:::bucket").is_err());
        assert!(principal("arn:aws:iam::111111111111:user/alice").is_ok());
    }
}
