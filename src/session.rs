//! Live USSD sessions: the [`SessionStore`] trait and its bounded in-memory implementation.
//!
//! A session lives for the few minutes a telco keeps a USSD dialogue open. The record keeps
//! the engine state plus what the channel layer needs to answer telco retries: a hash and
//! length of the cumulative input seen so far (never the input itself, which can hold a PIN)
//! and the last reply.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::BoxFuture;
use crate::engine;
use crate::types::{Msisdn, SessionKey};

/// Everything Njia remembers about one live session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub menu_id: Arc<str>,
    /// The menu version the session started on; it finishes on that version.
    pub menu_version: u64,
    pub msisdn: Msisdn,
    pub state: engine::Session,
    /// Length in bytes of the cumulative input already applied (cumulative dialects).
    pub raw_len: u32,
    /// Hash of that input, to tell a retry (same input) from a new one without storing it.
    pub raw_hash: u64,
    pub last_reply: Arc<str>,
    pub ended: bool,
    pub hops: u32,
}

/// Why a session could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("session store unavailable: {0}")]
    Unavailable(String),
    #[error("too many live sessions: new ones are refused until some end")]
    Full,
}

/// Where live sessions are kept. In memory by default; PostgreSQL for several instances.
pub trait SessionStore: Send + Sync + 'static {
    fn get<'a>(&'a self, key: &'a SessionKey) -> BoxFuture<'a, Result<Option<SessionRecord>, SessionError>>;
    fn put(&self, key: SessionKey, record: SessionRecord) -> BoxFuture<'_, Result<(), SessionError>>;
}

/// Hash of a cumulative input prefix, keyed with random keys drawn when the process starts.
///
/// Keyed so that a stored length and hash do not let anyone recover a short PIN by trying
/// every value: without the key there is nothing to compare guesses against. (Sessions shared
/// by several instances will need a key shared by them; the in-memory store needs none.)
pub fn raw_hash(raw: &str) -> u64 {
    static KEYS: LazyLock<RandomState> = LazyLock::new(RandomState::new);
    KEYS.hash_one(raw)
}

/// Enough shards that one shard's sweep is a short pause even with a million sessions.
const SHARDS: usize = 64;

/// Every shard is swept once per cycle. Expiry is also checked exactly on every read, so a
/// longer cycle only lets expired sessions occupy memory a little longer; a shorter one would
/// scan the whole live set more often (with 300,000 sessions a one-second cycle cost about
/// 5 % of a core in the load benchmark).
const SWEEP_CYCLE: Duration = Duration::from_secs(8);

struct Entry {
    touched: Instant,
    record: SessionRecord,
}

impl Entry {
    fn expired(&self, now: Instant, idle: Duration, ended: Duration) -> bool {
        let ttl = if self.record.ended { ended } else { idle };
        now.duration_since(self.touched) >= ttl
    }
}

/// In-memory sessions: sharded maps with an idle TTL and a size bound.
///
/// Sharding keeps lock hold times short under concurrency; the critical sections do no IO and
/// no allocation beyond the map's own, so a `std::sync::Mutex` is the right tool (never held
/// across an `.await`).
pub struct MemorySessions {
    shards: Vec<Mutex<HashMap<SessionKey, Entry>>>,
    hasher: std::hash::RandomState,
    idle: Duration,
    /// How long an ended session is kept: only to answer a telco's retry of the last hop.
    ended: Duration,
    max_per_shard: usize,
}

/// How long an ended session is kept for retries of its last hop. Telcos retry within
/// seconds; keeping ended sessions for the full idle TTL would multiply the live set.
pub const ENDED_SESSION_TTL: Duration = Duration::from_secs(30);

impl MemorySessions {
    pub fn new(idle: Duration, max_sessions: usize) -> Arc<MemorySessions> {
        Arc::new(MemorySessions {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: std::hash::RandomState::new(),
            idle,
            ended: ENDED_SESSION_TTL.min(idle),
            max_per_shard: max_sessions.div_ceil(SHARDS).max(1),
        })
    }

    fn shard(&self, key: &SessionKey) -> &Mutex<HashMap<SessionKey, Entry>> {
        let idx = (self.hasher.hash_one(key) as usize) % SHARDS;
        &self.shards[idx]
    }

    /// Number of live sessions (including idle ones not yet swept).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().map_or(0, |m| m.len())).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops expired sessions from every shard (see [`MemorySessions::sweep_shard`]).
    pub fn sweep(&self, now: Instant) -> usize {
        (0..SHARDS).map(|i| self.sweep_shard(i, now)).sum()
    }

    /// Drops the sessions of one shard that have been idle longer than the TTL (ended ones
    /// after [`ENDED_SESSION_TTL`]), then, if the shard is over its share of
    /// `max_sessions`, the least recently used ones; returns how many went.
    pub fn sweep_shard(&self, shard: usize, now: Instant) -> usize {
        let Some(Ok(mut m)) = self.shards.get(shard).map(Mutex::lock) else { return 0 };
        let before = m.len();
        m.retain(|_, e| !e.expired(now, self.idle, self.ended));
        if m.len() > self.max_per_shard {
            // The cut-off is the touch time of the (excess)-th oldest entry: O(n), and only
            // when the shard is over its bound.
            let excess = m.len() - self.max_per_shard;
            let mut times: Vec<Instant> = m.values().map(|e| e.touched).collect();
            let (_, cutoff, _) = times.select_nth_unstable(excess - 1);
            let cutoff = *cutoff;
            m.retain(|_, e| e.touched > cutoff);
        }
        before - m.len()
    }

    /// Sweeps one shard per tick, every shard once per [`SWEEP_CYCLE`], so a sweep never holds
    /// more than one shard's lock (short pauses, not one long one). Stops when the store is
    /// dropped.
    pub fn spawn_sweeper(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_CYCLE / SHARDS as u32);
            for shard in (0..SHARDS).cycle() {
                tick.tick().await;
                let Some(store) = weak.upgrade() else { break };
                let n = store.sweep_shard(shard, Instant::now());
                if n > 0 {
                    tracing::debug!(expired = n, shard, "idle sessions expired");
                }
            }
        });
    }

    fn get_now(&self, key: &SessionKey) -> Option<SessionRecord> {
        let mut m = self.shard(key).lock().ok()?;
        let e = m.get_mut(key)?;
        let now = Instant::now();
        if e.expired(now, self.idle, self.ended) {
            m.remove(key);
            return None;
        }
        e.touched = now;
        Some(e.record.clone())
    }

    /// Stores a session; false when a new session was refused because the shard is full.
    fn put_now(&self, key: SessionKey, record: SessionRecord) -> bool {
        let Ok(mut m) = self.shard(&key).lock() else { return false };
        // Over the bound, the sweeper trims back to it within a sweep cycle. Past twice the
        // bound (a flood faster than that) new sessions are refused: live citizens keep their
        // sessions, and the cost stays constant instead of a scan per insert.
        if m.len() >= self.max_per_shard * 2 && !m.contains_key(&key) {
            return false;
        }
        m.insert(key, Entry { touched: Instant::now(), record });
        true
    }
}

impl SessionStore for MemorySessions {
    fn get<'a>(&'a self, key: &'a SessionKey) -> BoxFuture<'a, Result<Option<SessionRecord>, SessionError>> {
        let r = self.get_now(key);
        Box::pin(async move { Ok(r) })
    }

    fn put(&self, key: SessionKey, record: SessionRecord) -> BoxFuture<'_, Result<(), SessionError>> {
        let stored = self.put_now(key, record);
        Box::pin(async move { if stored { Ok(()) } else { Err(SessionError::Full) } })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Session;
    use crate::menu::ScreenId;
    use crate::types::Locale;

    fn record(n: u32) -> SessionRecord {
        SessionRecord {
            menu_id: "m".into(),
            menu_version: 1,
            msisdn: Msisdn::parse("254711000111").unwrap(),
            state: Session {
                locale: Locale::parse("sw").unwrap(),
                screen: ScreenId(0),
                page: 0,
                stack: Vec::new(),
                vars: Vec::new(),
                secrets: Default::default(),
            },
            raw_len: 0,
            raw_hash: 0,
            last_reply: "x".into(),
            ended: false,
            hops: n,
        }
    }

    fn key(i: usize) -> SessionKey {
        SessionKey::new(Arc::from("t"), &format!("s{i}")).unwrap()
    }

    #[test]
    fn idle_sessions_expire() {
        let store = MemorySessions::new(Duration::from_secs(180), 1000);
        store.put_now(key(1), record(1));
        assert_eq!(store.get_now(&key(1)).map(|r| r.hops), Some(1));
        assert_eq!(store.sweep(Instant::now()), 0);
        assert_eq!(store.sweep(Instant::now() + Duration::from_secs(181)), 1);
        assert!(store.get_now(&key(1)).is_none());
    }

    #[test]
    fn ended_sessions_are_kept_only_for_retries() {
        let store = MemorySessions::new(Duration::from_secs(180), 1000);
        store.put_now(key(1), SessionRecord { ended: true, ..record(1) });
        store.put_now(key(2), record(2));
        let later = Instant::now() + ENDED_SESSION_TTL + Duration::from_secs(1);
        assert_eq!(store.sweep(later), 1);
        assert!(store.get_now(&key(2)).is_some(), "a live session stays for the idle TTL");
    }

    #[test]
    fn size_is_bounded_and_the_oldest_go_first() {
        let max = 64 * 10;
        let store = MemorySessions::new(Duration::from_secs(180), max);
        let stored = (0..5000).filter(|&i| store.put_now(key(i), record(i as u32))).count();
        // Never more than twice the bound: past it, new sessions are refused.
        assert!(store.len() <= 2 * max && stored == store.len(), "{} {stored}", store.len());
        let kept = (0..5000).find(|&i| store.get_now(&key(i)).is_some()).expect("some were stored");
        assert!(store.put_now(key(kept), record(7)), "updates of live sessions are never refused");
        store.sweep(Instant::now());
        assert!(store.len() <= max, "{}", store.len());
        let newest = (0..5000).rev().find(|&i| store.get_now(&key(i)).is_some());
        let oldest = (0..5000).find(|&i| store.get_now(&key(i)).is_some());
        assert!(newest > oldest, "the sweep keeps the most recently used");
    }
}
