//! A Telegram webhook body: the `Update` Rateline reads, then what it reads from it (the
//! callback data of a tap, the text of a reply).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rateline_domain::Scale;
use rateline_adapters::signed::CallbackSigner;
use rateline_adapters::text::parse_text_answer;
use teloxide_core::types::{Update, UpdateKind};

fuzz_target!(|data: &[u8]| {
    let Ok(update) = serde_json::from_slice::<Update>(data) else {
        return;
    };
    let signer = CallbackSigner::new("fuzz secret");
    match &update.kind {
        UpdateKind::CallbackQuery(q) => {
            if let Some(d) = &q.data {
                let _ = signer.decode(d);
            }
        }
        UpdateKind::Message(m) => {
            if let Some(text) = m.text() {
                for scale in [Scale::Binary, Scale::FiveStar] {
                    if let Some(v) = parse_text_answer(scale, text) {
                        assert!(scale.allowed().contains(&v));
                    }
                }
            }
        }
        _ => {}
    }
});
