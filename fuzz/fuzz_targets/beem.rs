//! Fuzzes the beem dialect's parser: any bytes get a parsed request or a 400 reason,
//! never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
mod common;

use common::ch;
use njia::channel::beem;

fuzz_target!(|data: &[u8]| {
    let _ = beem::parse(data, &ch("beem"));
});
