//! Fuzz `cairn-select`: parse arbitrary bytes as a selector set (first line)
//! and an event (rest), validate, compile and match. Must never panic, and
//! the compiled matcher must agree with the naive oracle.

#![no_main]

use cairn_select::{CompiledSelectors, Context, EventView, Selectors, naive};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

fuzz_target!(|data: &[u8]| {
    let (sel_bytes, ev_bytes) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let Ok(selectors) = serde_json::from_slice::<Selectors>(sel_bytes) else {
        return;
    };
    let _ = selectors.validate(Context::Trail);
    let _ = selectors.validate(Context::EventDataStore);
    let _ = selectors.has_custom();
    let _ = selectors.selects_data_events();
    let text = serde_json::to_string(&selectors).expect("serialise");
    let back: Selectors = serde_json::from_str(&text).expect("round trip");
    assert_eq!(back, selectors);

    let compiled = CompiledSelectors::compile(&selectors);
    let advanced = selectors.to_advanced();
    let compiled_adv = CompiledSelectors::compile(&advanced);
    let mut events: Vec<Value> = vec![
        json!({"eventCategory":"Management","eventSource":"kms.amazonaws.com","readOnly":true}),
        json!({"eventCategory":"Data","eventName":"GetObject","readOnly":false,
               "resources":[{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::b/k"},{"type":"AWS::S3::Bucket","ARNPrefix":"arn:aws:s3:::b/"}]}),
        json!({"eventVersion":"1.05","eventSource":"lambda.amazonaws.com","eventName":"Invoke"}),
    ];
    if let Ok(ev) = serde_json::from_slice::<Value>(ev_bytes) {
        events.push(ev);
    }
    for ev in &events {
        let view = EventView::from_record(ev);
        let got = compiled.matches(&view);
        assert_eq!(got, naive::matches(&selectors, ev), "compiled vs naive");
        let empty_source_excluded = ev.get("eventSource") == Some(&json!(""));
        if !empty_source_excluded {
            assert_eq!(got, compiled_adv.matches(&view), "basic vs to_advanced");
        }
    }
});
