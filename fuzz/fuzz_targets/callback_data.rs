//! Button payloads (Telegram callback data, Meta quick-reply payloads): never a panic, and
//! nothing but what the signer itself made decodes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rateline_adapters::signed::{CallbackError, CallbackSigner};

fuzz_target!(|data: &str| {
    let signer = CallbackSigner::new("fuzz secret");
    match signer.decode(data) {
        // Whatever decodes was signed by this key: encoding it again gives a valid payload.
        Ok((request, action)) => {
            let again = signer
                .encode(&request, action)
                .expect("a decoded payload re-encodes");
            assert_eq!(signer.decode(&again), Ok((request, action)));
        }
        Err(CallbackError::Foreign | CallbackError::BadMac) => {}
    }
});
