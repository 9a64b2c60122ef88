//! Fuzzes the africastalking dialect's parser: any bytes get a parsed request or a 400 reason,
//! never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
mod common;

use common::ch;
use njia::channel::africastalking;

fuzz_target!(|data: &[u8]| {
    let _ = africastalking::parse_hop(data, &ch("africastalking"));
    let _ = africastalking::parse_session_end(data, &ch("africastalking"));
});
