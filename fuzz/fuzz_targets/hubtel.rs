//! Fuzzes the hubtel dialect's parser: any bytes get a parsed request or a 400 reason,
//! never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
mod common;

use common::ch;
use njia::channel::hubtel;

fuzz_target!(|data: &[u8]| {
    let _ = hubtel::parse(data, &ch("hubtel"));
});
