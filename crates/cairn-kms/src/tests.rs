use super::*;
use proptest::prelude::*;

const A: &str = "111122223333";
const B: &str = "444455556666";
const R: &str = "us-east-1";
const DAY: i64 = 86_400;

fn kms() -> Kms {
    Kms::open_in_memory(Arc::new(TestRootKey::new([3; 32])), R).unwrap()
}

/// A new default key of account `A` in `R`, created at time 0.
fn default_key(k: &Kms) -> KeyMetadata {
    k.create_key(A, R, CreateKey::default(), 0).unwrap()
}

/// A key store holding one default key of account `A` in `R`, created at time 0.
fn kms_with_key() -> (Kms, KeyMetadata) {
    let k = kms();
    let m = default_key(&k);
    (k, m)
}

fn ctx(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn code<T: std::fmt::Debug>(r: Result<T, KmsError>) -> &'static str {
    r.unwrap_err().code()
}

#[track_caller]
fn assert_code<T: std::fmt::Debug>(r: Result<T, KmsError>, want: &str) {
    assert_eq!(code(r), want);
}

/// What `k` decrypts `blob` to under `context`.
fn decrypted(k: &Kms, blob: &[u8], context: &BTreeMap<String, String>) -> Vec<u8> {
    k.decrypt(blob, context).unwrap().plaintext.to_vec()
}

/// `k` refuses to decrypt `blob` under `context` as an invalid ciphertext.
#[track_caller]
fn assert_undecryptable(k: &Kms, blob: &[u8], context: &BTreeMap<String, String>) {
    assert_code(k.decrypt(blob, context), "InvalidCiphertextException");
}

#[test]
fn create_key_shape_and_default_policy() {
    let k = kms();
    let m = k.create_key(A, R, CreateKey::default(), 100).unwrap();
    assert!(uuid::Uuid::parse_str(&m.key_id).is_ok());
    assert_eq!(m.arn, format!("arn:aws:kms:{R}:{A}:key/{}", m.key_id));
    assert_eq!(m.state, KeyState::Enabled);
    assert_eq!(m.creation_date, 100);
    assert_eq!(m.current_version, 1);
    let p: serde_json::Value = serde_json::from_str(&m.policy).unwrap();
    assert_eq!(
        p["Statement"][0]["Principal"]["AWS"],
        format!("arn:aws:iam::{A}:root")
    );
    assert_eq!(p["Statement"][0]["Action"], "kms:*");
}

#[test]
fn create_key_rejects_unsupported_shapes() {
    let k = kms();
    for req in [
        CreateKey {
            key_spec: Some("RSA_2048".into()),
            ..CreateKey::default()
        },
        CreateKey {
            key_usage: Some("SIGN_VERIFY".into()),
            ..CreateKey::default()
        },
        CreateKey {
            origin: Some("EXTERNAL".into()),
            ..CreateKey::default()
        },
        CreateKey {
            multi_region: true,
            ..CreateKey::default()
        },
    ] {
        assert_code(k.create_key(A, R, req, 0), "ValidationException");
    }
    let bad_policy = CreateKey {
        policy: Some(
            r#"{"Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#.into(),
        ),
        ..CreateKey::default()
    };
    assert_eq!(
        code(k.create_key(A, R, bad_policy, 0)),
        "MalformedPolicyDocumentException",
        "a key policy needs a Principal"
    );
    let bad_tag = CreateKey {
        tags: vec![("aws:x".into(), "v".into())],
        ..CreateKey::default()
    };
    assert_code(k.create_key(A, R, bad_tag, 0), "TagException");
    assert!(k.list_keys(A, R).is_empty());
}

#[test]
fn resolution_by_id_arn_alias_and_alias_arn() {
    let (k, m) = kms_with_key();
    k.create_alias(A, R, "alias/logs", &m.key_id, 5).unwrap();
    for r in [
        m.key_id.clone(),
        m.arn.clone(),
        "alias/logs".to_owned(),
        format!("arn:aws:kms:{R}:{A}:alias/logs"),
    ] {
        assert_eq!(
            k.describe_key(A, R, &r, false).unwrap().key_id,
            m.key_id,
            "{r}"
        );
    }
    // Other region, other account, garbage.
    assert_code(
        k.describe_key(A, "eu-west-1", &m.key_id, false),
        "NotFoundException",
    );
    assert_code(k.describe_key(B, R, &m.key_id, true), "NotFoundException");
    assert_code(k.describe_key(B, R, &m.arn, false), "NotFoundException");
    assert_eq!(
        k.describe_key(B, R, &m.arn, true).unwrap().key_id,
        m.key_id,
        "cross-account by ARN"
    );
    assert_code(
        k.describe_key(A, R, "not-a-key", false),
        "NotFoundException",
    );
    assert_code(
        k.describe_key(A, R, "alias/none", false),
        "NotFoundException",
    );
    assert_eq!(k.list_keys(A, R).len(), 1);
    assert!(k.list_keys(B, R).is_empty());
}

#[test]
fn alias_rules() {
    let (k, m) = kms_with_key();
    let m2 = default_key(&k);
    assert_code(
        k.create_alias(A, R, "logs", &m.key_id, 0),
        "InvalidAliasNameException",
    );
    assert_code(
        k.create_alias(A, R, "alias/", &m.key_id, 0),
        "InvalidAliasNameException",
    );
    assert_code(
        k.create_alias(A, R, "alias/a b", &m.key_id, 0),
        "InvalidAliasNameException",
    );
    let long = format!("alias/{}", "x".repeat(251));
    assert_code(
        k.create_alias(A, R, &long, &m.key_id, 0),
        "InvalidAliasNameException",
    );
    assert_code(
        k.create_alias(A, R, "alias/aws/s3", &m.key_id, 0),
        "NotAuthorizedException",
    );
    assert_code(
        k.create_alias(A, R, "alias/x", "alias/y", 0),
        "ValidationException",
    );
    assert_code(
        k.create_alias(A, R, "alias/x", "nope", 0),
        "NotFoundException",
    );
    k.create_alias(A, R, "alias/a-b_c/d", &m.key_id, 1).unwrap();
    assert_code(
        k.create_alias(A, R, "alias/a-b_c/d", &m2.key_id, 0),
        "AlreadyExistsException",
    );
    // Same name in another region or account is a different alias.
    let other = k
        .create_key(A, "eu-west-1", CreateKey::default(), 0)
        .unwrap();
    k.create_alias(A, "eu-west-1", "alias/a-b_c/d", &other.key_id, 0)
        .unwrap();
    k.update_alias(A, R, "alias/a-b_c/d", &m2.key_id, 9)
        .unwrap();
    let list = k.list_aliases(A, R, None).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(
        (
            list[0].target_key_id.as_str(),
            list[0].creation_date,
            list[0].last_updated_date
        ),
        (m2.key_id.as_str(), 1, 9)
    );
    assert_eq!(list[0].arn(), format!("arn:aws:kms:{R}:{A}:alias/a-b_c/d"));
    assert!(k.list_aliases(A, R, Some(&m.key_id)).unwrap().is_empty());
    assert_eq!(k.list_aliases(A, R, Some(&m2.key_id)).unwrap().len(), 1);
    k.delete_alias(A, R, "alias/a-b_c/d").unwrap();
    assert_code(k.delete_alias(A, R, "alias/a-b_c/d"), "NotFoundException");
    assert_code(
        k.update_alias(A, R, "alias/zz", &m.key_id, 0),
        "NotFoundException",
    );
    assert_eq!(k.list_aliases(A, "eu-west-1", None).unwrap().len(), 1);
}

#[test]
fn encrypt_decrypt_and_context_binding() {
    let (k, m) = kms_with_key();
    let c = ctx(&[("trail", "t1")]);
    let e = k.encrypt(A, R, &m.key_id, b"hello", &c).unwrap();
    assert_eq!(e.key_arn, m.arn);
    assert!(!e.ciphertext_blob.windows(5).any(|w| w == b"hello"));
    let d = k.decrypt(&e.ciphertext_blob, &c).unwrap();
    assert_eq!(d.plaintext.as_slice(), b"hello");
    assert_eq!(d.key_arn, m.arn);
    assert_undecryptable(&k, &e.ciphertext_blob, &ctx(&[]));
    assert_undecryptable(&k, &e.ciphertext_blob, &ctx(&[("trail", "t2")]));
    assert_undecryptable(&k, b"short", &c);
    assert_code(k.encrypt(A, R, &m.key_id, b"", &c), "ValidationException");
    assert_code(
        k.encrypt(A, R, &m.key_id, &[0; 4097], &c),
        "ValidationException",
    );
    // A blob of another key store (same format, unknown key) is invalid.
    let other = kms();
    let m2 = default_key(&other);
    let e2 = other.encrypt(A, R, &m2.key_id, b"x", &c).unwrap();
    assert_undecryptable(&k, &e2.ciphertext_blob, &c);
}

#[test]
fn data_keys() {
    let (k, m) = kms_with_key();
    k.create_alias(A, R, "alias/trail", &m.key_id, 0).unwrap();
    let c = ctx(&[(
        "aws:cloudtrail:arn",
        "arn:aws:cloudtrail:us-east-1:111122223333:trail/t",
    )]);
    let dk = k.generate_data_key(A, "alias/trail", &c).unwrap();
    assert_eq!(dk.key_arn, m.arn);
    assert_eq!(
        decrypted(&k, &dk.ciphertext_blob, &c),
        dk.plaintext.as_slice()
    );
    let dk2 = k.generate_data_key(A, &m.arn, &c).unwrap();
    assert_ne!(
        dk.plaintext.as_slice(),
        dk2.plaintext.as_slice(),
        "fresh every time"
    );
    assert!(format!("{dk:?}").contains("redacted"));
    let (p, e) = k.generate_data_key_in(A, R, &m.key_id, 16, &c).unwrap();
    assert_eq!(p.len(), 16);
    assert_eq!(
        k.decrypt(&e.ciphertext_blob, &c).unwrap().plaintext.len(),
        16
    );
    assert_code(
        k.generate_data_key_in(A, R, &m.key_id, 0, &c),
        "ValidationException",
    );
    assert_code(
        k.generate_data_key_in(A, R, &m.key_id, 1025, &c),
        "ValidationException",
    );
    assert_code(
        k.generate_data_key(B, "alias/trail", &c),
        "NotFoundException",
    );
    // The object store's view: 32-byte keys and coarse error classes.
    assert_eq!(
        k.decrypt_data_key(&dk.ciphertext_blob, &c)
            .unwrap()
            .as_slice(),
        dk.plaintext.as_slice()
    );
    assert_eq!(
        k.decrypt_data_key(&e.ciphertext_blob, &c)
            .unwrap_err()
            .class(),
        KeyErrorClass::InvalidCiphertext,
        "a 16-byte data key is not a 256-bit key"
    );
    assert_eq!(
        k.decrypt_data_key(&dk.ciphertext_blob, &ctx(&[]))
            .unwrap_err()
            .class(),
        KeyErrorClass::InvalidCiphertext
    );
    assert_eq!(
        k.generate_data_key(A, "alias/none", &c)
            .unwrap_err()
            .class(),
        KeyErrorClass::NotFound
    );
    k.disable_key(A, R, &m.key_id).unwrap();
    assert_eq!(
        k.decrypt_data_key(&dk.ciphertext_blob, &c)
            .unwrap_err()
            .class(),
        KeyErrorClass::Disabled
    );
    k.enable_key(A, R, &m.key_id).unwrap();
    k.schedule_key_deletion(A, R, &m.key_id, None, 0).unwrap();
    assert_eq!(
        k.decrypt_data_key(&dk.ciphertext_blob, &c)
            .unwrap_err()
            .class(),
        KeyErrorClass::Disabled
    );
}

#[test]
fn disable_enable_transitions() {
    let (k, m) = kms_with_key();
    let c = ctx(&[]);
    let e = k.encrypt(A, R, &m.key_id, b"x", &c).unwrap();
    k.disable_key(A, R, &m.key_id).unwrap();
    assert_eq!(
        k.describe_key(A, R, &m.key_id, false).unwrap().state,
        KeyState::Disabled
    );
    assert_code(k.decrypt(&e.ciphertext_blob, &c), "DisabledException");
    assert_code(k.encrypt(A, R, &m.key_id, b"x", &c), "DisabledException");
    assert_code(k.generate_data_key(A, &m.key_id, &c), "DisabledException");
    assert_code(
        k.enable_key_rotation(A, R, &m.key_id, None, 0),
        "DisabledException",
    );
    k.disable_key(A, R, &m.key_id).unwrap();
    k.enable_key(A, R, &m.key_id).unwrap();
    k.enable_key(A, R, &m.key_id).unwrap();
    assert_eq!(decrypted(&k, &e.ciphertext_blob, &c), b"x");
    assert_eq!(
        code(k.disable_key(B, R, &m.arn)),
        "NotFoundException",
        "no cross-account admin"
    );
}

#[test]
fn scheduled_deletion_cancel_and_tick() {
    let (k, m) = kms_with_key();
    k.create_alias(A, R, "alias/doomed", &m.key_id, 0).unwrap();
    let c = ctx(&[]);
    let e = k.encrypt(A, R, &m.key_id, b"x", &c).unwrap();
    for days in [6, 31] {
        let r = k.schedule_key_deletion(A, R, &m.key_id, Some(days), 0);
        assert_code(r, "ValidationException");
    }
    assert_code(
        k.cancel_key_deletion(A, R, &m.key_id),
        "KMSInvalidStateException",
    );
    let s = k
        .schedule_key_deletion(A, R, &m.key_id, None, 1000)
        .unwrap();
    assert_eq!(s.state, KeyState::PendingDeletion);
    assert_eq!(s.deletion_date, Some(1000 + 30 * DAY));
    assert_eq!(s.pending_window_days, Some(30));
    for r in [
        code(k.decrypt(&e.ciphertext_blob, &c)),
        code(k.encrypt(A, R, &m.key_id, b"x", &c)),
        code(k.enable_key(A, R, &m.key_id)),
        code(k.disable_key(A, R, &m.key_id)),
        code(k.schedule_key_deletion(A, R, &m.key_id, None, 0)),
        code(k.enable_key_rotation(A, R, &m.key_id, None, 0)),
        code(k.create_alias(A, R, "alias/late", &m.key_id, 0)),
    ] {
        assert_eq!(r, "KMSInvalidStateException");
    }
    // Cancel: back to Disabled, as in AWS; then enable.
    let back = k.cancel_key_deletion(A, R, &m.key_id).unwrap();
    assert_eq!((back.state, back.deletion_date), (KeyState::Disabled, None));
    assert_eq!(
        k.tick(1000 + 31 * DAY).unwrap(),
        TickReport::default(),
        "cancelled: nothing due"
    );
    k.enable_key(A, R, &m.key_id).unwrap();
    assert_eq!(decrypted(&k, &e.ciphertext_blob, &c), b"x");
    // Schedule again with 7 days; not deleted before, deleted at the date.
    k.schedule_key_deletion(A, R, &m.key_id, Some(7), 0)
        .unwrap();
    assert!(k.tick(7 * DAY - 1).unwrap().deleted.is_empty());
    assert_eq!(k.tick(7 * DAY).unwrap().deleted, vec![m.arn.clone()]);
    assert_code(k.describe_key(A, R, &m.key_id, false), "NotFoundException");
    assert!(
        k.list_aliases(A, R, None).unwrap().is_empty(),
        "its aliases go too"
    );
    assert_undecryptable(&k, &e.ciphertext_blob, &c);
}

#[test]
fn rotation_keeps_old_ciphertexts() {
    let (k, m) = kms_with_key();
    let c = ctx(&[("k", "v")]);
    let st = k.rotation_status(A, R, &m.key_id).unwrap();
    assert!(!st.enabled && st.period_days.is_none());
    for days in [89, 2561] {
        let r = k.enable_key_rotation(A, R, &m.key_id, Some(days), 0);
        assert_code(r, "ValidationException");
    }
    k.enable_key_rotation(A, R, &m.key_id, None, 0).unwrap();
    let st = k.rotation_status(A, R, &m.key_id).unwrap();
    assert_eq!(
        (st.enabled, st.period_days, st.next_rotation),
        (true, Some(365), Some(365 * DAY))
    );
    k.enable_key_rotation(A, R, &m.key_id, Some(90), 0).unwrap();
    let old = k.encrypt(A, R, &m.key_id, b"v1", &c).unwrap();
    assert!(k.tick(90 * DAY - 1).unwrap().rotated.is_empty());
    assert_eq!(k.tick(90 * DAY).unwrap().rotated, vec![m.arn.clone()]);
    assert_eq!(
        k.describe_key(A, R, &m.key_id, false)
            .unwrap()
            .current_version,
        2
    );
    assert_eq!(
        k.rotation_status(A, R, &m.key_id).unwrap().next_rotation,
        Some(180 * DAY)
    );
    let new = k.encrypt(A, R, &m.key_id, b"v2", &c).unwrap();
    assert_eq!(
        new.ciphertext_blob[17..21],
        2u32.to_be_bytes(),
        "new blobs use the new version"
    );
    assert_eq!(decrypted(&k, &old.ciphertext_blob, &c), b"v1");
    assert_eq!(decrypted(&k, &new.ciphertext_blob, &c), b"v2");
    // On demand, and disabled rotation stops the schedule.
    k.rotate_key_on_demand(A, R, &m.key_id, 5).unwrap();
    assert_eq!(
        k.describe_key(A, R, &m.key_id, false)
            .unwrap()
            .current_version,
        3
    );
    assert_eq!(
        k.rotation_status(A, R, &m.key_id)
            .unwrap()
            .on_demand_rotation,
        Some(5)
    );
    k.disable_key_rotation(A, R, &m.key_id).unwrap();
    assert!(k.tick(10_000 * DAY).unwrap().rotated.is_empty());
    assert_eq!(decrypted(&k, &old.ciphertext_blob, &c), b"v1");
    // A disabled key is not rotated even when due.
    k.enable_key_rotation(A, R, &m.key_id, Some(90), 0).unwrap();
    k.disable_key(A, R, &m.key_id).unwrap();
    assert!(k.tick(10_000 * DAY).unwrap().rotated.is_empty());
    assert_code(
        k.rotate_key_on_demand(A, R, &m.key_id, 0),
        "DisabledException",
    );
}

#[test]
fn key_policies_and_tags() {
    let (k, m) = kms_with_key();
    assert_eq!(k.get_key_policy(A, R, &m.key_id).unwrap(), m.policy);
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"cloudtrail.amazonaws.com"},"Action":"kms:GenerateDataKey*","Resource":"*"}]}"#;
    k.put_key_policy(A, R, &m.key_id, doc).unwrap();
    assert_eq!(k.get_key_policy(A, R, &m.key_id).unwrap(), doc);
    let (_, p) = k.key_and_policy(A, R, &m.key_id, false).unwrap();
    assert_eq!(p.statements().len(), 1);
    assert_code(
        k.put_key_policy(A, R, &m.key_id, "{"),
        "MalformedPolicyDocumentException",
    );
    assert_code(
        k.put_key_policy(A, R, &m.key_id, &" ".repeat(40_000)),
        "LimitExceededException",
    );
    assert_eq!(
        k.get_key_policy(A, R, &m.key_id).unwrap(),
        doc,
        "unchanged after a failure"
    );
    k.tag_resource(A, R, &m.key_id, &[("team".into(), "sec".into())])
        .unwrap();
    assert_eq!(
        k.describe_key(A, R, &m.key_id, false).unwrap().tags["team"],
        "sec"
    );
    k.untag_resource(A, R, &m.key_id, &["team".into()]).unwrap();
    assert!(
        k.describe_key(A, R, &m.key_id, false)
            .unwrap()
            .tags
            .is_empty()
    );
    assert_code(
        k.tag_resource(A, R, &m.key_id, &[(String::new(), "x".into())]),
        "TagException",
    );
}

#[test]
fn persists_across_reopen_and_never_stores_material_in_plain_text() {
    let dir = tempfile::tempdir().unwrap();
    let root: Arc<dyn RootKey> = Arc::new(TestRootKey::new([5; 32]));
    let c = ctx(&[("a", "b")]);
    let (m, dk) = {
        let k = Kms::open(dir.path(), root.clone(), R).unwrap();
        let m = default_key(&k);
        k.create_alias(A, R, "alias/keep", &m.key_id, 0).unwrap();
        k.enable_key_rotation(A, R, &m.key_id, Some(100), 0)
            .unwrap();
        let dk = k.generate_data_key(A, "alias/keep", &c).unwrap();
        (m, dk)
    };
    let k = Kms::open(dir.path(), root, R).unwrap();
    let back = k.describe_key(A, R, "alias/keep", false).unwrap();
    assert_eq!(back, k.describe_key(A, R, &m.arn, false).unwrap());
    assert!(back.rotation_enabled);
    assert_eq!(
        decrypted(&k, &dk.ciphertext_blob, &c),
        dk.plaintext.as_slice()
    );
    // Nothing in the directory contains the data key.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!bytes.windows(32).any(|w| w == dk.plaintext.as_slice()));
    }
    // A different root key cannot use the stored material.
    let wrong = Kms::open(dir.path(), Arc::new(TestRootKey::new([6; 32])), R).unwrap();
    assert_code(
        wrong.decrypt(&dk.ciphertext_blob, &c),
        "KMSInternalException",
    );
}

#[test]
fn backing_keys_are_sealed_in_the_database() {
    let (k, m) = kms_with_key();
    let id = uuid::Uuid::parse_str(&m.key_id).unwrap();
    let sealed = {
        let inner = k.lock();
        db::sealed_version(&inner.conn, &m.key_id, 1)
            .unwrap()
            .unwrap()
    };
    let plain = TestRootKey::new([3; 32])
        .open(&material_context(&id, 1), &sealed)
        .unwrap();
    assert_eq!(plain.len(), 32);
    assert!(!sealed.windows(32).any(|w| w == plain.as_slice()));
    assert!(
        TestRootKey::new([3; 32])
            .open(&material_context(&id, 2), &sealed)
            .is_err(),
        "bound to its key id and version"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn round_trip_and_any_change_fails(
        plaintext in proptest::collection::vec(any::<u8>(), 1..512),
        pairs in proptest::collection::btree_map("[a-z:]{0,8}", "[a-z0-9]{0,8}", 0..4),
        flip in any::<proptest::sample::Index>(),
        bit in 0u8..8,
        extra_key in "[a-z]{1,4}",
    ) {
        let k = kms();
        let m = default_key(&k);
        let e = k.encrypt(A, R, &m.key_id, &plaintext, &pairs).unwrap();
        let back = k.decrypt(&e.ciphertext_blob, &pairs).unwrap();
        prop_assert_eq!(back.plaintext.as_slice(), plaintext.as_slice());
        // Any single-bit change of the blob fails.
        let mut bad = e.ciphertext_blob.clone();
        let i = flip.index(bad.len());
        bad[i] ^= 1 << bit;
        prop_assert!(k.decrypt(&bad, &pairs).is_err());
        // Truncation or extension fails.
        prop_assert!(k.decrypt(&e.ciphertext_blob[..e.ciphertext_blob.len() - 1], &pairs).is_err());
        let mut longer = e.ciphertext_blob.clone();
        longer.push(0);
        prop_assert!(k.decrypt(&longer, &pairs).is_err());
        // Any change of the context fails: an added key, a changed value, a removed key.
        let mut more = pairs.clone();
        more.insert(format!("{extra_key}!"), String::new());
        prop_assert!(k.decrypt(&e.ciphertext_blob, &more).is_err());
        if let Some((key, v)) = pairs.iter().next() {
            let mut changed = pairs.clone();
            changed.insert(key.clone(), format!("{v}x"));
            prop_assert!(k.decrypt(&e.ciphertext_blob, &changed).is_err());
            let mut fewer = pairs.clone();
            fewer.remove(key);
            prop_assert!(k.decrypt(&e.ciphertext_blob, &fewer).is_err());
        }
    }
}

/// The checked alias operations hand the check the key the alias points at now, and change
/// nothing when it refuses.
#[test]
fn checked_alias_operations_see_the_current_key() {
    let k = kms();
    let trail = default_key(&k);
    let other = default_key(&k);
    k.create_alias(A, R, "alias/trail-logs", &trail.key_id, 0)
        .unwrap();
    let refuse = |m: &KeyMetadata, _: &Policy| -> Result<(), KmsError> {
        Err(KmsError::NotAuthorized(m.key_id.clone()))
    };
    let e = k
        .update_alias_checked(A, R, "alias/trail-logs", &other.key_id, 1, refuse)
        .unwrap_err();
    assert!(matches!(&e, KmsError::NotAuthorized(id) if *id == trail.key_id));
    let e = k
        .delete_alias_checked(A, R, "alias/trail-logs", refuse)
        .unwrap_err();
    assert!(matches!(&e, KmsError::NotAuthorized(id) if *id == trail.key_id));
    let target = |k: &Kms| k.list_aliases(A, R, None).unwrap()[0].target_key_id.clone();
    assert_eq!(target(&k), trail.key_id);
    let mut seen = Vec::new();
    k.update_alias_checked(A, R, "alias/trail-logs", &other.key_id, 2, |m, _| {
        seen.push(m.key_id.clone());
        Ok::<(), KmsError>(())
    })
    .unwrap();
    assert_eq!(target(&k), other.key_id);
    k.delete_alias_checked(A, R, "alias/trail-logs", |m, _| {
        seen.push(m.key_id.clone());
        Ok::<(), KmsError>(())
    })
    .unwrap();
    assert_eq!(seen, [trail.key_id.clone(), other.key_id.clone()]);
    assert!(k.list_aliases(A, R, None).unwrap().is_empty());
}
