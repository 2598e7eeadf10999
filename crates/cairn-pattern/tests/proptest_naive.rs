//! Property test: the compiled matcher agrees with the naive interpreter on
//! random patterns (generated as text from a grammar over a small alphabet, so
//! the parser is exercised too) and random events.

use cairn_pattern::{FilterPattern, PreparedEvent, naive};
use proptest::prelude::*;
use serde_json::{Map, Value};

const KEYS: &[&str] = &["a", "b", "c"];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(vec!["x", "y", "xx", "1", "1.5", "", "x*y", "ERROR"])
            .prop_map(Value::from),
        prop::sample::select(vec![1.0, 2.0, 1.5, -3.0, 1000.0]).prop_map(|n| {
            if n == (n as i64) as f64 {
                Value::from(n as i64)
            } else {
                Value::from(n)
            }
        }),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..4).prop_map(|kv| {
                let mut m = Map::new();
                for (k, v) in kv {
                    m.insert(k.to_string(), v);
                }
                Value::Object(m)
            }),
        ]
    })
}

fn event() -> impl Strategy<Value = Value> {
    prop::collection::vec((prop::sample::select(KEYS), json_value()), 0..4).prop_map(|kv| {
        let mut m = Map::new();
        for (k, v) in kv {
            m.insert(k.to_string(), v);
        }
        Value::Object(m)
    })
}

fn selector() -> impl Strategy<Value = String> {
    let seg = prop_oneof![
        prop::sample::select(KEYS).prop_map(|k| format!(".{k}")),
        (0usize..3).prop_map(|i| format!("[{i}]")),
        Just("[*]".to_string()),
        Just(".*".to_string()),
        prop::sample::select(KEYS).prop_map(|k| format!(".['{k}']")),
    ];
    (prop::sample::select(KEYS), prop::collection::vec(seg, 0..3)).prop_map(|(k, segs)| {
        // At most one wildcard per selector.
        let mut seen = false;
        let mut s = format!("$.{k}");
        for g in segs {
            let w = g == "[*]" || g == ".*";
            if w && seen {
                continue;
            }
            seen |= w;
            s.push_str(&g);
        }
        s
    })
}

fn condition() -> impl Strategy<Value = String> {
    let string_value = prop::sample::select(vec![
        "x", "\"x\"", "y", "*", "\"*\"", "x*", "*x", "*x*", "\"\"", "ERROR", "1", "1.5", "\"1\"",
        "%x%", "%^x$%", "%[0-9]+%", "x*y", "true",
    ]);
    let number = prop::sample::select(vec!["1", "2", "1.5", "-3", "1e3", "+1000", "0"]);
    prop_oneof![
        (
            selector(),
            prop::sample::select(vec!["=", "!="]),
            string_value
        )
            .prop_map(|(s, o, v)| format!("{s} {o} {v}")),
        (
            selector(),
            prop::sample::select(vec!["<", ">", "<=", ">=", "=", "!="]),
            number
        )
            .prop_map(|(s, o, v)| format!("{s}{o}{v}")),
        (
            selector(),
            prop::sample::select(vec!["IS NULL", "IS TRUE", "IS FALSE", "NOT EXISTS"])
        )
            .prop_map(|(s, t)| format!("{s} {t}")),
    ]
}

fn expr() -> impl Strategy<Value = String> {
    condition().prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            (
                inner.clone(),
                prop::sample::select(vec!["&&", "||"]),
                inner.clone()
            )
                .prop_map(|(a, o, b)| format!("{a} {o} {b}")),
            inner.prop_map(|e| format!("({e})")),
        ]
    })
}

fn words() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec![
            "ERROR",
            "WARN",
            "404",
            "1534",
            "x",
            "[a b]",
            "\"q r\"",
            "ERRORCODE",
        ]),
        0..6,
    )
    .prop_map(|w| w.join(" "))
}

fn text_pattern() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            prop::sample::select(vec!["", "-", "?"]),
            prop::sample::select(vec!["ERROR", "WARN", "x", "\"a b\"", "404", "\"\""]),
        ),
        0..4,
    )
    .prop_map(|t| {
        t.into_iter()
            .map(|(p, w)| format!("{p}{w}"))
            .collect::<Vec<_>>()
            .join(" ")
    })
}

fn space_pattern() -> impl Strategy<Value = String> {
    let value = prop::sample::select(vec![
        "ERROR", "WARN", "4*", "*R*", "404", "1000", "%^E%", "\"x\"",
    ]);
    let field = prop_oneof![
        Just("...".to_string()),
        Just(String::new()),
        (0usize..4).prop_map(|i| format!("w{i}")),
        (
            (0usize..4),
            prop::sample::select(vec!["=", "!="]),
            value.clone()
        )
            .prop_map(|(i, o, v)| format!("w{i}{o}{v}")),
        (
            (0usize..4),
            prop::sample::select(vec!["<", ">", ">="]),
            prop::sample::select(vec!["404", "1000"])
        )
            .prop_map(|(i, o, v)| format!("w{i} {o} {v}")),
        (
            (0usize..4),
            value.clone(),
            (0usize..4),
            value,
            prop::sample::select(vec!["&&", "||"])
        )
            .prop_map(|(i, v, j, u, c)| format!("w{i}={v} {c} w{j}!={u}")),
    ];
    prop::collection::vec(field, 1..5).prop_map(|f| format!("[{}]", f.join(", ")))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn json_compiled_equals_naive(e in expr(), events in prop::collection::vec(event(), 1..6)) {
        let text = format!("{{ {e} }}");
        let fp = match FilterPattern::parse(&text) {
            Ok(fp) => fp,
            // Only the per-pattern wildcard and regex quotas can reject these.
            Err(err) => {
                prop_assert!(err.to_string().contains("too many"), "{}: {}", text, err);
                return Ok(());
            }
        };
        for ev in &events {
            let raw = serde_json::to_string(ev).unwrap();
            let want = naive::matches_json(fp.ast(), ev, &raw);
            prop_assert_eq!(fp.matches_json(ev, &raw), want, "{} on {}", text, raw);
            prop_assert_eq!(fp.matches_prepared(&PreparedEvent::new(&raw)), want);
            prop_assert_eq!(fp.matches(&raw), naive::matches(fp.ast(), &raw));
        }
    }

    #[test]
    fn text_compiled_equals_naive(p in text_pattern(), msgs in prop::collection::vec(words(), 1..6)) {
        let fp = FilterPattern::parse(&p).unwrap();
        for m in &msgs {
            prop_assert_eq!(fp.matches(m), naive::matches(fp.ast(), m), "{} on {}", p, m);
        }
    }

    #[test]
    fn space_compiled_equals_naive(p in space_pattern(), msgs in prop::collection::vec(words(), 1..6)) {
        let fp = match FilterPattern::parse(&p) {
            Ok(fp) => fp,
            Err(err) => {
                // Duplicate names, regex quota, or `[]` (a single empty field).
                let msg = err.to_string();
                prop_assert!(msg.contains("duplicate") || msg.contains("too many") || p == "[]", "{}: {}", p, msg);
                return Ok(());
            }
        };
        for m in &msgs {
            prop_assert_eq!(fp.matches(m), naive::matches(fp.ast(), m), "{} on {}", p, m);
            prop_assert_eq!(fp.extracted_values(m), naive::extract(fp.ast(), m), "{} on {}", p, m);
        }
    }

    #[test]
    fn parser_never_panics(s in "\\PC{0,64}") {
        if let Ok(fp) = FilterPattern::parse(&s) {
            let _ = fp.matches("{\"a\":1} x");
        }
    }
}
