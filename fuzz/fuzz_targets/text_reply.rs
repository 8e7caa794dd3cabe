//! A client's typed reply read as an answer: never a panic, never a value off the scale.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rateline_domain::Scale;
use rateline_adapters::text::parse_text_answer;

fuzz_target!(|text: &str| {
    for scale in [Scale::Binary, Scale::FiveStar] {
        if let Some(v) = parse_text_answer(scale, text) {
            assert!(scale.allowed().contains(&v), "{v} on {scale}");
        }
    }
});
