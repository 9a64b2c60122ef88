//! Fuzzes the infobip dialect's parser: any bytes get a parsed request or a 400 reason,
//! never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
mod common;

use common::ch;
use http::Method;
use njia::channel::infobip;

fuzz_target!(|data: &[u8]| {
    // The first line is the path below the channel, the rest the body.
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let (head, body) = data.split_at(split);
    if let Ok(rest) = std::str::from_utf8(head) {
        for m in [Method::GET, Method::POST, Method::PUT] {
            if let Some(call) = infobip::route(&m, rest) {
                let id = match call {
                    infobip::Call::Start(id)
                    | infobip::Call::Response(id)
                    | infobip::Call::End(id)
                    | infobip::Call::Status(id) => id,
                };
                let _ = infobip::parse(id, body, true, &ch("infobip"));
                let _ = infobip::parse(id, body, false, &ch("infobip"));
                let _ = infobip::parse_end(id, body, &ch("infobip"));
            }
        }
    }
});
