//! The embedded journal passes the journal conformance suite, plaintext and sealed.

use cairn_journal::{Journal, JournalKey, JournalOptions, conformance};

fn opts(key: Option<JournalKey>) -> JournalOptions {
    JournalOptions {
        // Small segments, so the suite also crosses segment boundaries.
        segment_bytes: 4096,
        max_total_bytes: 64 * 1024 * 1024,
        key,
        ..JournalOptions::default()
    }
}

#[test]
fn the_embedded_journal_conforms() {
    let root = tempfile::tempdir().unwrap();
    conformance::run(root.path(), |dir| Journal::open(dir, opts(None))).unwrap();
}

#[test]
fn the_sealed_embedded_journal_conforms_and_stores_no_plaintext() {
    let root = tempfile::tempdir().unwrap();
    let key = JournalKey::from_bytes(&[9u8; 32]);
    conformance::run(root.path(), |dir| {
        Journal::open(dir, opts(Some(key.clone())))
    })
    .unwrap();
    let mut segments = 0;
    for entry in std::fs::read_dir(root.path().join("ordering")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "seg") {
            segments += 1;
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes.windows(4).any(|w| w == b"r9-2"),
                "{} holds a plaintext payload",
                path.display()
            );
        }
    }
    assert!(segments > 0);
}

#[test]
fn a_failing_journal_is_reported_by_the_suite() {
    // A suite that cannot fail tests nothing: a journal that forgets its records on reopen
    // must be caught.
    let root = tempfile::tempdir().unwrap();
    let e = conformance::run(root.path(), |dir| {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).unwrap();
        Journal::open(dir, opts(None))
    })
    .unwrap_err();
    assert_eq!(e.case, "durable across reopen", "{e}");
}
