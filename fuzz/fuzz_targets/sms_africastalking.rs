//! Fuzzes the Africa's Talking SMS callbacks' parsers (inbound SMS and delivery reports): any
//! bytes get a parsed callback or a 400 reason, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use njia::channel::sms_africastalking;

fuzz_target!(|data: &[u8]| {
    let _ = sms_africastalking::parse_inbound(data);
    let _ = sms_africastalking::parse_delivery_report(data);
});
