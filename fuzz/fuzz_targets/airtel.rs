//! Fuzzes the airtel dialect's parser: any bytes get a parsed request or a 400 reason,
//! never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
mod common;

use common::ch;
use njia::channel::airtel;

fuzz_target!(|data: &[u8]| {
    if let Ok(q) = std::str::from_utf8(data) {
        let _ = airtel::parse(q, &ch("airtel"));
    }
});
