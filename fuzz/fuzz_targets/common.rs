//! What every dialect's fuzz target shares: the channel a dialect gets by default.

use njia::channel::{Channel, dialect};

/// The default channel of dialect `name`, as an unconfigured server serves it.
pub fn ch(name: &str) -> Channel {
    match dialect(name) {
        Some(d) => Channel::default_for(d, 160),
        None => unreachable!("{name} is registered"),
    }
}
