//! The web chat widget's messages (acknowledgements, answers) and the token in them: a
//! token only verifies if this key minted it.
#![no_main]

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use rateline_adapters::webchat::{AckMessage, AnswerMessage, TokenSigner};

fuzz_target!(|data: &[u8]| {
    let signer = TokenSigner::new(b"fuzz key, 32 bytes long at least");
    let now = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
    let token = if let Ok(m) = serde_json::from_slice::<AnswerMessage>(data) {
        m.token
    } else if let Ok(m) = serde_json::from_slice::<AckMessage>(data) {
        m.token
    } else {
        String::from_utf8_lossy(data).into_owned()
    };
    if let Ok(session) = signer.verify(&token, now) {
        // Only a token this key made verifies: minting that session again gives one too.
        let expiry = now + chrono::Duration::hours(1);
        assert_eq!(
            signer.verify(&signer.mint(&session, expiry), now),
            Ok(session)
        );
    }
});
