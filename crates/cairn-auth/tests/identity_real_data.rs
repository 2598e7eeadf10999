//! `user_identity_json` against real CloudTrail records (shared/data, never copied here).

use cairn_auth::Principal;
use serde_json::Value;
use time::macros::datetime;

fn invictus_records() -> Vec<Value> {
    let dir = format!(
        "{}/../../../shared/data/cloudtrail/invictus-ir-sigma-aws",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
            out.extend(v["Records"].as_array().unwrap().iter().cloned());
        }
    }
    out
}

fn find_identity(records: &[Value], access_key_id: &str) -> Value {
    records
        .iter()
        .map(|r| r["userIdentity"].clone())
        .find(|u| u["accessKeyId"] == access_key_id)
        .unwrap_or_else(|| panic!("no record with {access_key_id}"))
}

/// Serialised with key order preserved (serde_json `preserve_order`), so this compares
/// values and key order against what AWS wrote.
fn same(ours: &Value, real: &Value) {
    assert_eq!(
        serde_json::to_string(ours).unwrap(),
        serde_json::to_string(real).unwrap()
    );
}

#[test]
fn iam_user_matches_aws() {
    let records = invictus_records();
    let real = find_identity(&records, "AKIATFQR7NSC8Q4X20BJ");
    let p = Principal::IamUser {
        account_id: "123837392027".into(),
        user_name: "bert-jan".into(),
        user_id: "AIDATFQR7NSC5AU2ZV3IE".into(),
        path: "/".into(),
    };
    same(&p.user_identity_json(Some("AKIATFQR7NSC8Q4X20BJ")), &real);
}

#[test]
fn assumed_role_matches_aws() {
    let records = invictus_records();
    let real = find_identity(&records, "ASIATFQR7NSCVW2R4OHT");
    let p = Principal::AssumedRole {
        account_id: "123837392027".into(),
        role_name: "stratus-red-team-leave-org-role".into(),
        role_id: "AROATFQR7NSCRI4ZA26CX".into(),
        session_name: "aws-go-sdk-1688990515440126480".into(),
        issuer_arn: "arn:aws:iam::123837392027:role/stratus-red-team-leave-org-role".into(),
        mfa_authenticated: false,
        creation_date: datetime!(2023-07-10 12:02:04 UTC),
    };
    same(&p.user_identity_json(Some("ASIATFQR7NSCVW2R4OHT")), &real);
}
