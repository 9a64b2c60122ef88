//! Fuzzes the arkesel dialect's parser: any bytes get a parsed request or a 400 reason,
//! never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use njia::channel::{arkesel, Channel, dialect};

fn ch(name: &str) -> Channel {
    match dialect(name) {
        Some(d) => Channel::default_for(d, 160),
        None => unreachable!("{name} is registered"),
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = arkesel::parse(data, &ch("arkesel"));
});
