//! Live USSD sessions: the [`SessionStore`] trait and its bounded in-memory implementation.
//!
//! A session lives for the few minutes a telco keeps a USSD dialogue open. The record keeps
//! the engine state plus what the channel layer needs to answer telco retries: a hash and
//! length of the cumulative input seen so far (never the input itself, which can hold a PIN)
//! and the last reply.
//!
//! A session the telco dropped before its END stays open for the resume window, so the next
//! dial from the same number can offer to continue it ([`SessionStore::take_open`]).

pub mod postgres;

use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hashbrown::HashTable;
use serde::{Deserialize, Serialize};

use crate::BoxFuture;
use crate::clock::Clock;
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
    /// The session was opened by a dial that found an earlier dropped one: its state is that
    /// session's (secrets dropped) and its screen is the offer to continue or start again.
    #[serde(default)]
    pub resuming: bool,
}

/// Why a session could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("session store unavailable: {0}")]
    Unavailable(String),
    #[error("too many live sessions: new ones are refused until some end")]
    Full,
}

/// Which dropped session a new dial may resume: the number's newest session other than the
/// new one, if it is still open (it never reached END and was not resumed already), came
/// through the new session's channel, is on `menu`, and had a hop within `within`.
#[derive(Clone, Copy, Debug)]
pub struct OpenQuery<'a> {
    pub msisdn: Msisdn,
    /// The new session (its channel is the one the old session must have come through).
    pub new_session: &'a SessionKey,
    pub menu: &'a str,
    pub within: Duration,
}

/// Where live sessions are kept. In memory by default; PostgreSQL for several instances.
pub trait SessionStore: Send + Sync + 'static {
    fn get<'a>(&'a self, key: &'a SessionKey) -> BoxFuture<'a, Result<Option<SessionRecord>, SessionError>>;
    fn put<'a>(&'a self, key: &'a SessionKey, record: SessionRecord) -> BoxFuture<'a, Result<(), SessionError>>;
    /// Takes the session [`OpenQuery`] describes: marks it ended, so it can be resumed only
    /// once (two dials at the same moment, even on two instances, never both get it), and
    /// returns it. Called only on the first hop of a dial without extra digits.
    fn take_open<'a>(&'a self, query: OpenQuery<'a>) -> BoxFuture<'a, Result<Option<SessionRecord>, SessionError>>;
    /// The key cumulative inputs are hashed with; every instance sharing these sessions has
    /// the same one, so any of them can tell a telco retry from a new input.
    fn input_key(&self) -> &InputKey;
}

/// The key of [`InputKey::hash`]: 128 random bits, drawn once per process for memory sessions
/// and once per database for shared ones (kept in `shared_tokens`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct InputKey(u64, u64);

impl std::fmt::Debug for InputKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InputKey(<redacted>)")
    }
}

impl InputKey {
    /// A fresh random key.
    pub fn random() -> InputKey {
        InputKey(rand::random(), rand::random())
    }

    /// The key as 32 lowercase hex characters, the form it is shared in.
    pub fn to_hex(self) -> String {
        format!("{:016x}{:016x}", self.0, self.1)
    }

    pub fn from_hex(hex: &str) -> Option<InputKey> {
        if hex.len() != 32 || !hex.is_ascii() {
            return None;
        }
        let k0 = u64::from_str_radix(&hex[..16], 16).ok()?;
        let k1 = u64::from_str_radix(&hex[16..], 16).ok()?;
        Some(InputKey(k0, k1))
    }

    /// Keyed SipHash of a cumulative input prefix.
    ///
    /// Keyed so that a stored length and hash do not let anyone recover a short PIN by trying
    /// every value: without the key there is nothing to compare guesses against. Instances
    /// sharing sessions share the key (through the database), never a constant.
    pub fn hash(&self, raw: &str) -> u64 {
        let mut h = siphasher::sip::SipHasher13::new_with_keys(self.0, self.1);
        h.write(raw.as_bytes());
        h.finish()
    }
}

/// Enough shards that one shard's sweep is a short pause even with a million sessions: a
/// sweep holds its shard's lock, and every hop on that core waits behind it (at 64 shards
/// and 400,000 sessions a sweep was long enough to show in the p99 latency).
const SHARDS: usize = 256;

/// Every shard is swept once per cycle. Expiry is also checked exactly on every read, so a
/// longer cycle only lets expired sessions occupy memory a little longer; a shorter one would
/// scan the whole live set more often (with 300,000 sessions a one-second cycle cost about
/// 5 % of a core in the load benchmark).
const SWEEP_CYCLE: Duration = Duration::from_secs(8);

/// One live session and its key. Boxed in the table: sessions come and go thousands of times a
/// second, and the table then moves only pointers when it grows or clears its tombstones,
/// never whole records (that copying was 3 % of a busy server's time).
struct Slot {
    key: SessionKey,
    touched: Instant,
    record: SessionRecord,
}

impl Slot {
    /// Gone for hops: idle past the TTL (ended sessions after [`ENDED_SESSION_TTL`]).
    fn expired(&self, now: Instant, idle: Duration, ended: Duration) -> bool {
        let ttl = if self.record.ended { ended } else { idle };
        now.duration_since(self.touched) >= ttl
    }
}

/// A table entry: the slot, and when it is past keeping, inline so that a sweep reads the
/// table's own memory and follows a pointer only for the sessions it drops.
struct Entry {
    gone_at: Instant,
    slot: Box<Slot>,
}

type Shard = HashTable<Entry>;

/// In-memory sessions: sharded maps with an idle TTL and a size bound.
///
/// Sharding keeps lock hold times short under concurrency; the critical sections do no IO and
/// no allocation beyond the map's own, so a `std::sync::Mutex` is the right tool (never held
/// across an `.await`, and never two at once: the number index is locked only after a
/// session shard is released).
///
/// A key is hashed once per access, and that one hash picks both the shard and the bucket.
/// The hasher is foldhash, seeded per process: session ids come from authenticated telcos,
/// not from citizens, so SipHash's stronger resistance to chosen keys would buy nothing here
/// and costs several times more per hop.
pub struct MemorySessions {
    shards: Vec<Mutex<Shard>>,
    /// Each number's newest session, for resuming a dropped one; sharded by number.
    newest: Vec<Mutex<hashbrown::HashMap<Msisdn, SessionKey>>>,
    hasher: hashbrown::DefaultHashBuilder,
    input_key: InputKey,
    idle: Duration,
    /// How long an ended session is kept: only to answer a telco's retry of the last hop.
    ended: Duration,
    /// How long an open session is kept: the idle TTL or the resume window, the longer.
    keep_open: Duration,
    max_per_shard: usize,
    /// Where "now" is read: the system's clock unless a test chose another.
    clock: Clock,
}

/// How long an ended session is kept for retries of its last hop. Telcos retry within
/// seconds; keeping ended sessions for the full idle TTL would multiply the live set.
pub const ENDED_SESSION_TTL: Duration = Duration::from_secs(30);

impl MemorySessions {
    /// Sessions idle for `idle` are gone for hops; open ones are kept `resume_window` (when
    /// longer) for a later dial to resume.
    pub fn new(idle: Duration, resume_window: Duration, max_sessions: usize) -> Arc<MemorySessions> {
        MemorySessions::with_clock(idle, resume_window, max_sessions, Clock::System)
    }

    /// As [`MemorySessions::new`], reading "now" from `clock` (a test moves a manual clock past
    /// the idle TTL or the resume window instead of sleeping).
    pub fn with_clock(
        idle: Duration,
        resume_window: Duration,
        max_sessions: usize,
        clock: Clock,
    ) -> Arc<MemorySessions> {
        Arc::new(MemorySessions {
            shards: (0..SHARDS).map(|_| Mutex::new(HashTable::new())).collect(),
            newest: (0..SHARDS).map(|_| Mutex::new(hashbrown::HashMap::new())).collect(),
            hasher: hashbrown::DefaultHashBuilder::default(),
            input_key: InputKey::random(),
            idle,
            ended: ENDED_SESSION_TTL.min(idle),
            keep_open: idle.max(resume_window),
            max_per_shard: max_sessions.div_ceil(SHARDS).max(1),
            clock,
        })
    }

    /// The key's hash and its shard. The table takes bucket positions from a hash's low bits
    /// and its tags from the top seven, so the shard comes from bits in between: neither is
    /// then the same for every key of a shard.
    fn locate(&self, key: &SessionKey) -> (u64, &Mutex<Shard>) {
        let hash = self.hasher.hash_one(key);
        (hash, &self.shards[(hash >> 32) as usize % SHARDS])
    }

    fn newest_shard(&self, msisdn: Msisdn) -> &Mutex<hashbrown::HashMap<Msisdn, SessionKey>> {
        &self.newest[(msisdn.as_u64() as usize) % SHARDS]
    }

    /// When a session touched at `touched` is past keeping: open ones after `keep_open`,
    /// ended ones after their retry time.
    fn gone_at(&self, touched: Instant, ended: bool) -> Instant {
        touched + if ended { self.ended } else { self.keep_open }
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

    /// Drops the sessions of one shard that are past keeping (open ones idle longer than the
    /// TTL and the resume window, ended ones after [`ENDED_SESSION_TTL`]), then, if the shard
    /// is over its share of `max_sessions`, the least recently used ones; returns how many went.
    pub fn sweep_shard(&self, shard: usize, now: Instant) -> usize {
        let mut dropped: Vec<(Msisdn, SessionKey)> = Vec::new();
        {
            let Some(Ok(mut m)) = self.shards.get(shard).map(Mutex::lock) else { return 0 };
            m.retain(|e| {
                let keep = e.gone_at > now;
                if !keep {
                    dropped.push((e.slot.record.msisdn, e.slot.key.clone()));
                }
                keep
            });
            if m.len() > self.max_per_shard {
                // The cut-off is the (excess)-th soonest time to go: O(n), and only when the
                // shard is over its bound. Ended sessions go before open ones touched as late.
                let excess = m.len() - self.max_per_shard;
                let mut times: Vec<Instant> = m.iter().map(|e| e.gone_at).collect();
                let (_, cutoff, _) = times.select_nth_unstable(excess - 1);
                let cutoff = *cutoff;
                m.retain(|e| {
                    let keep = e.gone_at > cutoff;
                    if !keep {
                        dropped.push((e.slot.record.msisdn, e.slot.key.clone()));
                    }
                    keep
                });
            }
        }
        // The number index forgets a session once the session itself is gone, so it never
        // outgrows the sessions it points at.
        for (msisdn, key) in &dropped {
            if let Ok(mut idx) = self.newest_shard(*msisdn).lock()
                && idx.get(msisdn) == Some(key)
            {
                idx.remove(msisdn);
            }
        }
        dropped.len()
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
                let n = store.sweep_shard(shard, store.clock.instant());
                if n > 0 {
                    tracing::debug!(expired = n, shard, "idle sessions expired");
                }
            }
        });
    }

    fn get_now(&self, key: &SessionKey) -> Option<SessionRecord> {
        let (hash, shard) = self.locate(key);
        let mut m = shard.lock().ok()?;
        let found = m.find_entry(hash, |e| e.slot.key == *key).ok()?;
        let now = self.clock.instant();
        if found.get().slot.expired(now, self.idle, self.ended) {
            // Idle past the TTL: gone for hops. An open one stays (untouched) for the resume
            // window; the sweeper drops it after that.
            if found.get().gone_at <= now {
                found.remove();
            }
            return None;
        }
        let e = found.into_mut();
        e.slot.touched = now;
        e.gone_at = self.gone_at(now, e.slot.record.ended);
        Some(e.slot.record.clone())
    }

    /// Stores a session; false when a new session was refused because the shard is full.
    fn put_now(&self, key: &SessionKey, mut record: SessionRecord) -> bool {
        // Like every session store, never keep a secret from one hop to the next (the checker
        // makes each secret input lead straight to the lookup that uses it).
        record.state.secrets.clear();
        let msisdn = record.msisdn;
        let (hash, shard) = self.locate(key);
        let now = self.clock.instant();
        {
            let Ok(mut m) = shard.lock() else { return false };
            if let Some(e) = m.find_mut(hash, |e| e.slot.key == *key) {
                e.gone_at = self.gone_at(now, record.ended);
                e.slot.touched = now;
                e.slot.record = record;
                return true;
            }
            // Over the bound, the sweeper trims back to it within a sweep cycle. Past twice the
            // bound (a flood faster than that) new sessions are refused: live citizens keep
            // their sessions, and the cost stays constant instead of a scan per insert.
            if m.len() >= self.max_per_shard * 2 {
                return false;
            }
            let gone_at = self.gone_at(now, record.ended);
            let slot = Box::new(Slot { key: key.clone(), touched: now, record });
            m.insert_unique(hash, Entry { gone_at, slot }, |e| self.hasher.hash_one(&e.slot.key));
        }
        if let Ok(mut idx) = self.newest_shard(msisdn).lock() {
            idx.insert(msisdn, key.clone());
        }
        true
    }

    fn take_open_now(&self, q: OpenQuery<'_>) -> Option<SessionRecord> {
        let key = self.newest_shard(q.msisdn).lock().ok()?.get(&q.msisdn).cloned()?;
        if &key == q.new_session || key.channel != q.new_session.channel {
            return None;
        }
        let (hash, shard) = self.locate(&key);
        let mut m = shard.lock().ok()?;
        let e = m.find_mut(hash, |e| e.slot.key == key)?;
        let now = self.clock.instant();
        let s = &mut e.slot;
        let open = !s.record.ended && s.record.msisdn == q.msisdn && *s.record.menu_id == *q.menu;
        if !open || now.duration_since(s.touched) >= q.within || e.gone_at <= now {
            return None;
        }
        // Taken under the shard's lock: a second dial finds it ended.
        let taken = s.record.clone();
        s.record.ended = true;
        s.touched = now;
        e.gone_at = self.gone_at(now, true);
        Some(taken)
    }
}

impl SessionStore for MemorySessions {
    fn get<'a>(&'a self, key: &'a SessionKey) -> BoxFuture<'a, Result<Option<SessionRecord>, SessionError>> {
        let r = self.get_now(key);
        Box::pin(async move { Ok(r) })
    }

    fn put<'a>(&'a self, key: &'a SessionKey, record: SessionRecord) -> BoxFuture<'a, Result<(), SessionError>> {
        let stored = self.put_now(key, record);
        Box::pin(async move { if stored { Ok(()) } else { Err(SessionError::Full) } })
    }

    fn take_open<'a>(&'a self, query: OpenQuery<'a>) -> BoxFuture<'a, Result<Option<SessionRecord>, SessionError>> {
        let r = self.take_open_now(query);
        Box::pin(async move { Ok(r) })
    }

    fn input_key(&self) -> &InputKey {
        &self.input_key
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
                recent: Vec::new(),
            },
            raw_len: 0,
            raw_hash: 0,
            last_reply: "x".into(),
            ended: false,
            hops: n,
            resuming: false,
        }
    }

    fn key(i: usize) -> SessionKey {
        SessionKey::new(Arc::from("t"), &format!("s{i}")).unwrap()
    }

    #[test]
    fn idle_sessions_expire() {
        let store = MemorySessions::new(Duration::from_secs(180), Duration::ZERO, 1000);
        store.put_now(&key(1), record(1));
        assert_eq!(store.get_now(&key(1)).map(|r| r.hops), Some(1));
        assert_eq!(store.sweep(Instant::now()), 0);
        assert_eq!(store.sweep(Instant::now() + Duration::from_secs(181)), 1);
        assert!(store.get_now(&key(1)).is_none());
    }

    #[test]
    fn ended_sessions_are_kept_only_for_retries() {
        let store = MemorySessions::new(Duration::from_secs(180), Duration::ZERO, 1000);
        store.put_now(&key(1), SessionRecord { ended: true, ..record(1) });
        store.put_now(&key(2), record(2));
        let later = Instant::now() + ENDED_SESSION_TTL + Duration::from_secs(1);
        assert_eq!(store.sweep(later), 1);
        assert!(store.get_now(&key(2)).is_some(), "a live session stays for the idle TTL");
    }

    #[test]
    fn size_is_bounded_and_the_oldest_go_first() {
        let max = SHARDS * 10;
        let store = MemorySessions::new(Duration::from_secs(180), Duration::ZERO, max);
        let stored = (0..5000).filter(|&i| store.put_now(&key(i), record(i as u32))).count();
        // Never more than twice the bound: past it, new sessions are refused.
        assert!(store.len() <= 2 * max && stored == store.len(), "{} {stored}", store.len());
        let kept = (0..5000).find(|&i| store.get_now(&key(i)).is_some()).expect("some were stored");
        assert!(store.put_now(&key(kept), record(7)), "updates of live sessions are never refused");
        store.sweep(Instant::now());
        assert!(store.len() <= max, "{}", store.len());
        let newest = (0..5000).rev().find(|&i| store.get_now(&key(i)).is_some());
        let oldest = (0..5000).find(|&i| store.get_now(&key(i)).is_some());
        assert!(newest > oldest, "the sweep keeps the most recently used");
    }

    fn query(new_session: &SessionKey, within: Duration) -> OpenQuery<'_> {
        OpenQuery { msisdn: Msisdn::parse("254711000111").unwrap(), new_session, menu: "m", within }
    }

    #[test]
    fn an_open_session_is_kept_for_the_resume_window_and_taken_once() {
        let store = MemorySessions::new(Duration::from_secs(180), Duration::from_secs(300), 1000);
        store.put_now(&key(1), record(1));
        let later = Instant::now() + Duration::from_secs(200);
        assert_eq!(store.sweep(later), 0, "open sessions outlive the idle TTL for the resume window");
        let next = key(2);
        let taken = store.take_open_now(query(&next, Duration::from_secs(300)));
        assert_eq!(taken.map(|r| r.hops), Some(1));
        assert!(store.take_open_now(query(&next, Duration::from_secs(300))).is_none(), "taken once");
        assert!(store.get_now(&key(1)).is_some_and(|r| r.ended), "a taken session is ended");
    }

    #[test]
    fn only_the_newest_open_session_of_the_number_is_taken() {
        let store = MemorySessions::new(Duration::from_secs(180), Duration::from_secs(300), 1000);
        store.put_now(&key(1), record(1));
        store.put_now(&key(2), SessionRecord { ended: true, ..record(2) });
        let next = key(3);
        assert!(store.take_open_now(query(&next, Duration::from_secs(300))).is_none(), "the newest ended");
        store.put_now(&key(4), record(4));
        assert!(store.take_open_now(query(&key(4), Duration::from_secs(300))).is_none(), "never itself");
        let other_menu = OpenQuery { menu: "other", ..query(&next, Duration::from_secs(300)) };
        assert!(store.take_open_now(other_menu).is_none(), "another menu");
        assert!(store.take_open_now(query(&next, Duration::ZERO)).is_none(), "outside the window");
        assert_eq!(store.take_open_now(query(&next, Duration::from_secs(300))).map(|r| r.hops), Some(4));
    }

    #[test]
    fn input_keys_round_trip_and_differ() {
        let k = InputKey::random();
        assert_eq!(InputKey::from_hex(&k.to_hex()), Some(k));
        assert_ne!(k.hash("1*2"), InputKey::random().hash("1*2"));
        assert_eq!(format!("{k:?}"), "InputKey(<redacted>)");
    }
}
