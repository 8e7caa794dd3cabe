//! The `webhook` channel's answer (`POST /v1/ratings`), parsed and validated as the API
//! does: a value the scale refuses never validates.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rateline_domain::RatingAnswer;
use rateline_domain::Scale;

fuzz_target!(|data: &[u8]| {
    let Ok(answer) = serde_json::from_slice::<RatingAnswer>(data) else {
        return;
    };
    for scale in [Scale::Binary, Scale::FiveStar] {
        if answer.validate(scale).is_ok() {
            assert!(scale.allowed().contains(&answer.value));
        }
    }
});
