//! A customer's article in a helpdesk (Zammad's e-mail replies, plain or HTML) read as their
//! reply: never a panic, never a quoted line kept, never longer than what it was read from
//! once its entities are decoded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rateline_adapters::zammad::reply_of;

fuzz_target!(|body: &str| {
    for content_type in ["text/plain", "text/html"] {
        let reply = reply_of(body, content_type);
        assert!(
            reply.lines().all(|l| !l.trim().starts_with('>')),
            "a quoted line kept: {reply:?}"
        );
        // Decoding only shortens (`&amp;` is one character) and tags only go: at most a
        // line break per tag is added, so the reply is never longer than the body.
        assert!(reply.len() <= body.len() + body.matches('<').count());
    }
});
