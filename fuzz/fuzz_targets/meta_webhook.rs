//! A Meta webhook body (Messenger, Instagram, WhatsApp), after its signature checked out.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rateline_adapters::meta::parse_webhook;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = parse_webhook(&value);
    }
});
