//! A Rocket.Chat Omnichannel webhook body: never a panic, and the visitor's token never
//! shown by what is read.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rateline_adapters::rocketchat::parse_event;

fuzz_target!(|body: &[u8]| {
    match parse_event(body) {
        Ok(event) => {
            assert_eq!(format!("{:?}", event.visitor.token), "VisitorToken(..)");
            let _ = (event.kind(), event.handed_over_from(), event.last_agent_message());
        }
        Err(refusal) => assert!(!refusal.is_empty()),
    }
});
