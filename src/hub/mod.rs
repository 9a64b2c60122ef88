//! One USSD hop, end to end, independent of any telco's wire format.
//!
//! A channel adapter hands the hub a [`Hop`]; the hub finds or starts the session, works out
//! the new input (prefix-diffing cumulative dialects, replaying a telco retry), runs the pure
//! engine, performs the lookups and durable submits the engine asks for, saves the session
//! and returns a [`Reply`] for the adapter to format.
//!
//! What a hop asks for is decided by the pure [`classify`] (`classify.rs`); this module reads
//! the session, calls it, and does the IO the [`Action`] needs.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::engine::{self, Ctx, LookupAnswer, Served, Step};
use crate::handoff::{Policy, plan_submit};
use crate::i18n::Catalog;
use crate::lookup::Lookup;
use crate::menu::MenuSet;
pub use crate::menu::{MenuFilter, allows};
use crate::session::{OpenQuery, SessionError, SessionRecord, SessionStore};
use crate::store::{NewRequest, ServiceUse, Store, StoreError};
use crate::types::{Locale, Msisdn, SessionKey};

mod classify;
pub mod funnel;
pub mod usage;

pub use classify::{Action, Delta, classify, cumulative_delta, menu_version};

/// The longest search term counted, in bytes (a search takes at most 30 characters).
const MISS_TERM_MAX: usize = 40;

/// Messages the hub itself shows; every locale must define them.
pub const HUB_MESSAGES: &[&str] = &[
    "njia-unknown-service",
    "njia-session-expired",
    "njia-rate-limited",
    "njia-resume-offer",
    "njia-resume-continue",
    "njia-resume-restart",
];

/// The choices of the offer to resume a dropped session.
const RESUME_CONTINUE: &str = "1";
const RESUME_RESTART: &str = "2";

/// One hop as every dialect normalises it.
#[derive(Clone, Debug)]
pub struct Hop {
    pub key: SessionKey,
    pub msisdn: Msisdn,
    pub service_code: String,
    pub input: HopInput,
    /// The channel's screen limit in GSM-7 characters.
    pub limit: usize,
    /// The menus the channel may reach.
    pub menus: MenuFilter,
}

/// What the user sent, in the dialect's input model. Its `Debug` shows only the length: the
/// text can hold a PIN.
#[derive(Clone)]
pub enum HopInput {
    /// Everything typed in the session so far, joined with `*` (Africa's Talking `text`,
    /// Safaricom's `USSD_PARAMS`). On the first hop it holds digits dialled with the code
    /// (`*384*1*2#` gives `1*2`).
    Cumulative(String),
    /// Only what was typed since the last screen (Hubtel, Arkesel, Nalo, Beem, Airtel).
    Latest {
        /// The new input; ignored on the first hop, where digits dialled with the code arrive
        /// in the hop's service code (`*384*1*2#`).
        text: String,
        /// The dialect's new-session signal.
        first: bool,
        /// The dialect's hop counter, when it has one: a repeated counter is a retry. Without
        /// one, a repeated input is a new input (the citizen typed the same thing again).
        sequence: Option<u32>,
    },
}

impl std::fmt::Debug for HopInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HopInput::Cumulative(t) => write!(f, "Cumulative(<{} bytes>)", t.len()),
            HopInput::Latest { text, first, sequence } => {
                write!(f, "Latest(<{} bytes>, first: {first}, sequence: {sequence:?})", text.len())
            }
        }
    }
}

/// What to send back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub text: String,
    /// True closes the session (`END`), false continues it (`CON`).
    pub end: bool,
}

/// Configuration of the hub's own behaviour.
#[derive(Clone, Debug)]
pub struct HubConfig {
    /// Hard deadline of a lookup, well under the telco's hop timeout.
    pub lookup_timeout: Duration,
    /// Locale for users with no remembered language, when the menu names none.
    pub default_locale: Locale,
    /// When the hand-off's first job runs (the push delay) and how often it may fail.
    pub handoff: Policy,
    /// Wakes the dispatcher when a submit stored a job that is due now.
    pub wake: Arc<Notify>,
    /// How long after its last hop a session the network dropped (no END) can be continued
    /// by the next dial from the same number; zero never offers it.
    pub resume_window: Duration,
    /// Where "now" is read for recent services: the system's clock unless a test moves a
    /// manual one past their expiry.
    pub clock: crate::clock::Clock,
    /// Writes made behind the hop (search misses; services used wait in `uses` instead),
    /// shared by every hub a reload makes, so a shutdown or the end of a `njia dial` can wait
    /// for them.
    pub behind: Arc<Behind>,
    /// Where citizens drop off, counted on the hop and written every few seconds; shared by
    /// every hub a reload makes.
    pub funnel: Arc<funnel::Funnel>,
    /// Services used and not yet written (see `usage::flush`); shared by every hub a reload
    /// makes.
    pub uses: Arc<usage::Pending>,
    /// Where hops, lookups and search misses are counted: the process's registry, or a
    /// sandbox's own (`metrics::Registry::for_server`).
    pub metrics: Arc<crate::metrics::Registry>,
}

/// Writes the hub makes behind the hop: a citizen's screen never waits for them, and whoever
/// stops the process waits for them ([`Behind::settled`]) so none is lost on a clean stop.
#[derive(Debug, Default)]
pub struct Behind {
    running: std::sync::atomic::AtomicUsize,
    idle: Notify,
}

impl Behind {
    /// Runs `write` on the runtime, counted until it finishes.
    pub fn spawn(self: &Arc<Self>, write: impl std::future::Future<Output = ()> + Send + 'static) {
        use std::sync::atomic::Ordering;
        self.running.fetch_add(1, Ordering::SeqCst);
        let this = Arc::clone(self);
        tokio::spawn(async move {
            write.await;
            if this.running.fetch_sub(1, Ordering::SeqCst) == 1 {
                this.idle.notify_waiters();
            }
        });
    }

    /// Waits until no write is running, or `limit` has passed.
    pub async fn settled(&self, limit: Duration) {
        use std::sync::atomic::Ordering;
        let wait = async {
            loop {
                // Registered before the count is read, so a write finishing in between wakes it.
                let idle = self.idle.notified();
                if self.running.load(Ordering::SeqCst) == 0 {
                    return;
                }
                idle.await;
            }
        };
        let _ = tokio::time::timeout(limit, wait).await;
    }
}

/// The shared state behind every channel.
pub struct Hub {
    pub menus: Arc<MenuSet<Served>>,
    pub catalog: Arc<Catalog>,
    pub sessions: Arc<dyn SessionStore>,
    pub store: Arc<dyn Store>,
    pub lookups: Arc<dyn Lookup>,
    pub config: HubConfig,
    /// Hops per phone number and per channel.
    pub limits: Arc<crate::limit::RateLimits>,
    /// Menu versions a reload replaced, kept for the sessions that started on them.
    pub retired: Arc<[Retired]>,
}

/// A menu version a reload replaced, with the catalog it was checked with.
#[derive(Clone, Debug)]
pub struct Retired {
    pub menu: Arc<Served>,
    pub catalog: Arc<Catalog>,
    pub since: std::time::Instant,
}

impl Hub {
    /// Handles one hop. Never fails: problems become a localized END screen and a log line.
    pub async fn hop(&self, hop: Hop) -> Reply {
        if let Err(over) = self.limits.check(hop.msisdn, &hop.key.channel) {
            // Debug, not warn: a script hammering one number would flood the log; the
            // metrics count every limited hop.
            tracing::debug!(msisdn = %hop.msisdn.masked(), channel = %hop.key.channel, over = ?over, "hop over the rate limit");
            self.config.metrics.hop_limited(over);
            if let Some((menu, _)) = self.menus.route(&hop.service_code) {
                self.config.funnel.limited(menu);
            }
            let locale = self.store.language(hop.msisdn).await.ok().flatten();
            let locale = locale.unwrap_or_else(|| self.config.default_locale.clone());
            let text = self.catalog.format(&locale, "njia-rate-limited", None).into_owned();
            return Reply { text: engine::fit(text, hop.limit), end: true };
        }
        match self.hop_inner(&hop).await {
            Ok(r) => r,
            Err(e) => {
                self.config.metrics.hop("error");
                tracing::error!(msisdn = %hop.msisdn.masked(), channel = %hop.key.channel, error = %e, "hop failed");
                // In the caller's language when the store can still say it.
                let locale = self.store.language(hop.msisdn).await.ok().flatten();
                let locale =
                    locale.filter(|l| self.catalog.has_locale(l)).unwrap_or_else(|| self.config.default_locale.clone());
                Reply {
                    text: engine::fit(
                        self.catalog.format(&locale, "njia-technical-problem", None).into_owned(),
                        hop.limit,
                    ),
                    end: true,
                }
            }
        }
    }

    /// Reads the session, lets [`classify`] decide what the hop asks for, and carries it out.
    async fn hop_inner(&self, hop: &Hop) -> Result<Reply, HubError> {
        let existing = self.sessions.get(&hop.key).await?;
        let action = classify(hop, existing, self.sessions.input_key(), &self.menus, &self.retired);
        // The session to step, its menu, the step that opened it (a new session), and the
        // inputs to apply: one typed on a live session, or digits dialled with the code.
        let (mut rec, menu, first, typed, dialled) = match action {
            Action::OtherNumber { owner } => {
                tracing::warn!(msisdn = %hop.msisdn.masked(), owner = %owner.masked(), "session id reused by another number; refused");
                return Err(HubError::OtherNumber);
            }
            Action::MenuGone { menu } => return Err(HubError::MenuGone(menu)),
            Action::Replay { text, end } => {
                self.config.metrics.hop("retry");
                return Ok(Reply { text: text.to_string(), end });
            }
            Action::ShowCurrent { rec, menu } => {
                tracing::warn!(msisdn = %hop.msisdn.masked(), "cumulative input does not extend the previous one; showing the current screen");
                return Ok(match engine::current(self.ctx(menu, hop.limit), &rec.state) {
                    Step::Show { text, end } => Reply { text, end },
                    _ => Reply { text: rec.last_reply.to_string(), end: rec.ended },
                });
            }
            Action::Gone => return Ok(self.gone(hop).await),
            Action::UnknownService => {
                tracing::warn!(msisdn = %hop.msisdn.masked(), code = ?hop.service_code, "no menu for service code");
                self.config.metrics.hop("unknown_service");
                let text = self.catalog.format(&self.config.default_locale, "njia-unknown-service", None).into_owned();
                return Ok(Reply { text: engine::fit(text, hop.limit), end: true });
            }
            Action::Continue { rec, menu, input } => {
                // What was typed leaves the screen the citizen saw (unless it answered the
                // offer to continue a dropped session, which is no screen of the menu).
                if !rec.resuming {
                    self.config.funnel.screen(menu, rec.state.screen, funnel::Event::Left);
                }
                (rec, menu, None, Some(input), Vec::new())
            }
            Action::Start { menu, extras } => {
                let (rec, step) = self.start(hop, menu, extras.is_empty()).await?;
                self.config.funnel.started(menu);
                (rec, menu, Some(step), None, extras)
            }
        };
        let ctx = self.ctx(menu, hop.limit);
        let mut reply = match first {
            Some(step) => self.resolve(ctx, hop, &mut rec, step).await?,
            None => Reply { text: rec.last_reply.to_string(), end: rec.ended },
        };
        let mut inputs = typed.into_iter().chain(dialled.iter().map(String::as_str));
        if rec.resuming
            && let Some(choice) = inputs.next()
        {
            reply = match self.resume_choice(ctx, &mut rec, choice.trim()) {
                Some(step) => self.resolve(ctx, hop, &mut rec, step).await?,
                None => {
                    let text = self.resume_offer(&rec.state.locale, Some("njia-invalid-choice"), hop.limit);
                    Reply { text, end: false }
                }
            };
        }
        for input in inputs {
            if reply.end {
                break;
            }
            let outcome = engine::step(ctx, &mut rec.state, input);
            if let Some(locale) = outcome.language {
                self.store.set_language(hop.msisdn, locale).await?;
            }
            if let Some(query) = &outcome.missed {
                self.count_miss(query);
            }
            reply = self.resolve(ctx, hop, &mut rec, outcome.step).await?;
        }
        match &hop.input {
            // Latest-input dialects keep the hop counter where cumulative ones keep the length;
            // a new-session signal's counter is not kept, so its next hop is never a retry.
            HopInput::Latest { first: true, .. } => (rec.raw_len, rec.raw_hash) = (u32::MAX, 0),
            HopInput::Latest { sequence, .. } => (rec.raw_len, rec.raw_hash) = (sequence.unwrap_or(u32::MAX), 0),
            HopInput::Cumulative(raw) => {
                (rec.raw_len, rec.raw_hash) = (raw.len() as u32, self.sessions.input_key().hash(raw))
            }
        }
        if reply.end
            && let Some(code) = engine::used_service(ctx, &rec.state)
        {
            self.note_use(hop, menu, code);
        }
        // Only the screen this hop sends counts as shown: screens a dial's extra digits pass
        // through were never seen. The offer to continue a dropped session is none of the
        // menu's.
        if !rec.resuming {
            let event = if reply.end { funnel::Event::Ended } else { funnel::Event::Shown };
            self.config.funnel.screen(menu, rec.state.screen, event);
        }
        self.config.metrics.hop(if reply.end { "end" } else { "continue" });
        rec.last_reply = Arc::from(reply.text.as_str());
        rec.ended = reply.end;
        rec.hops += 1;
        if let Err(e) = self.sessions.put(&hop.key, rec).await {
            // An END needs no session afterwards (only a retry would read it, and a retry of a
            // submit finds the request by its key): once a submit is durable, its reference is
            // shown whatever happens to the session write. A CON without its session would
            // strand the citizen on the next hop, so that is the apology.
            if !reply.end {
                return Err(HubError::Session(e));
            }
            tracing::error!(msisdn = %hop.msisdn.masked(), error = %e, "session not saved after an END; answering the END");
        }
        Ok(reply)
    }

    /// Counts a search that found nothing, by its folded words and the day, never with the
    /// number. Words holding a digit are left out: a citizen may type an ID number, a PIN or
    /// a phone number into search, and none of that is kept. The count is written behind the
    /// hop (on PostgreSQL it takes the background pool, which may wait): the screen saying
    /// nothing was found does not wait for it, and a count that cannot be written is logged.
    fn count_miss(&self, query: &str) {
        let mut term = String::new();
        for w in crate::search::words(query).filter(|w| !w.bytes().any(|b| b.is_ascii_digit())) {
            if term.len() + w.len() >= MISS_TERM_MAX {
                break;
            }
            if !term.is_empty() {
                term.push(' ');
            }
            term.push_str(&w);
        }
        self.config.metrics.search_miss();
        if term.is_empty() {
            return;
        }
        let day = crate::clock::eat_day(crate::store::now_ms());
        let store = Arc::clone(&self.store);
        self.config.behind.spawn(async move {
            if let Err(e) = store.count_miss(day, &term).await {
                tracing::warn!(error = %e, "a search miss was not counted");
            }
        });
    }

    /// A new session on `menu`, in the number's remembered language, or the offer to continue
    /// the number's dropped session. `plain` is a dial without extra digits: only such a dial
    /// is asked the language or offered a dropped session (someone who dials straight to a
    /// service, `*384*1*2#`, knows the menu: do not interrupt them).
    async fn start(&self, hop: &Hop, menu: &Served, plain: bool) -> Result<(SessionRecord, Step), HubError> {
        // Both reads at once: on PostgreSQL each takes its own pooled connection, so a
        // returning citizen's first screen waits for one round trip, not two.
        let (remembered, recent) = tokio::join!(self.store.language(hop.msisdn), self.recent(hop, menu, plain));
        let remembered = remembered?;
        let remembered = remembered.filter(|l| self.catalog.has_locale(l));
        let ask = remembered.is_none() && plain;
        let locale =
            remembered.or_else(|| menu.default_locale.clone()).unwrap_or_else(|| self.config.default_locale.clone());
        let resumed = if plain { self.dropped_session(hop, menu).await } else { None };
        let (state, step, resuming) = match resumed {
            Some(mut state) => {
                // "Start again" starts from home, which offers what this dial read.
                engine::offer_recent(self.ctx(menu, hop.limit), &mut state, &recent);
                let text = self.resume_offer(&state.locale, None, hop.limit);
                tracing::info!(msisdn = %hop.msisdn.masked(), "offering to continue a dropped session");
                (state, Step::Show { text, end: false }, true)
            }
            None => {
                let (state, step) = engine::begin_returning(self.ctx(menu, hop.limit), locale, ask, &recent);
                (state, step, false)
            }
        };
        let rec = SessionRecord {
            menu_id: Arc::from(menu.id.as_str()),
            menu_version: menu.version,
            msisdn: hop.msisdn,
            state,
            raw_len: 0,
            raw_hash: self.sessions.input_key().hash(""),
            last_reply: Arc::from(""),
            ended: false,
            hops: 0,
            resuming,
        };
        Ok((rec, step))
    }

    /// The number's recent services of `menu`, the most recent first, when its start screen
    /// offers them: only on a plain dial (someone who dials a service's code knows it), and
    /// never at the cost of the dial (a store that cannot answer leaves the screen without
    /// them).
    async fn recent(&self, hop: &Hop, menu: &Served, plain: bool) -> Vec<u32> {
        let Some(recent) = menu.catalogue.as_deref().map(|c| c.recent).filter(|r| r.count > 0 && plain) else {
            return Vec::new();
        };
        let since = recent.expired_before_ms(self.config.clock.now_ms());
        // More than shown, by as many as the start screen leads to: those are left out.
        let wanted = u32::from(recent.count) + u32::try_from(menu.home_services).unwrap_or(u32::MAX);
        let stored = match self.store.recent_services(hop.msisdn, &menu.id, since, wanted).await {
            Ok(codes) => codes,
            Err(e) => {
                tracing::warn!(msisdn = %hop.msisdn.masked(), error = %e, "cannot read recent services");
                Vec::new()
            }
        };
        // Uses not written yet are the most recent.
        let mut codes = self.config.uses.recent(hop.msisdn, &menu.id, since, wanted as usize);
        for c in stored {
            if !codes.contains(&c) {
                codes.push(c);
            }
        }
        codes
    }

    /// Remembers that the number used the catalogue service `code` of `menu`, and counts the
    /// use: kept in memory at once (this instance's next dial from the number offers it) and
    /// written with the others every few seconds (`usage::flush`), so a completed service costs
    /// no write of its own.
    fn note_use(&self, hop: &Hop, menu: &Served, code: u32) {
        let Some(recent) = menu.catalogue.as_deref().map(|c| c.recent) else { return };
        let now = self.config.clock.now_ms();
        let used = ServiceUse {
            // A menu that offers no recent services keeps no number's: only the count.
            remember: recent.count > 0,
            msisdn: hop.msisdn,
            menu: menu.id.clone(),
            code,
            at_ms: now,
            day: crate::clock::eat_day(now),
            times: 1,
            expired_before_ms: recent.expired_before_ms(now),
        };
        self.config.uses.push(used);
    }

    /// A hop in the middle of a session this server no longer has. A retry of a final hop
    /// whose submit was stored (the server crashed after the commit) gets the END it would
    /// have got: its reference, never "expired" and a second payment. Anything else is asked
    /// to dial again.
    async fn gone(&self, hop: &Hop) -> Reply {
        if let Some(reply) = self.stored_reply(hop).await {
            self.config.metrics.hop("retry");
            return reply;
        }
        let locale = self.store.language(hop.msisdn).await.ok().flatten();
        let locale = locale.unwrap_or_else(|| self.config.default_locale.clone());
        tracing::info!(msisdn = %hop.msisdn.masked(), "hop for an unknown session; asking to dial again");
        self.config.metrics.hop("expired");
        let text = self.catalog.format(&locale, "njia-session-expired", None).into_owned();
        Reply { text: engine::fit(text, hop.limit), end: true }
    }

    /// The END of the request a submit stored for this hop's session, if there is one.
    async fn stored_reply(&self, hop: &Hop) -> Option<Reply> {
        let row = match self.store.request_by_key(&idempotency_key(hop)).await {
            Ok(row) => row?,
            Err(e) => {
                tracing::warn!(msisdn = %hop.msisdn.masked(), error = %e, "cannot look up a stored request for a retry");
                return None;
            }
        };
        let menu = self.menus.by_id(&row.menu)?;
        let locale = Locale::parse(&row.locale).ok().filter(|l| self.catalog.has_locale(l))?;
        // The stored amount is the number charged, kept as digits.
        let amount = row.payment.as_ref().and_then(|(a, _)| crate::money::Kes::parse(a).ok());
        let ctx = self.ctx(menu, hop.limit);
        let step = engine::stored_end(ctx, locale, &row.service, &row.fields, amount, row.reference.as_str())?;
        tracing::info!(msisdn = %hop.msisdn.masked(), reference = %row.reference, "retry of a stored submit; answering its END");
        match step {
            Step::Show { text, end } => Some(Reply { text, end }),
            _ => None,
        }
    }

    /// True when the session is live: known and not ended.
    pub async fn is_active(&self, key: &SessionKey) -> bool {
        matches!(self.sessions.get(key).await, Ok(Some(rec)) if !rec.ended)
    }

    /// True when the session's current screen asks for a secret (a PIN), so a terminal
    /// phone can mask what is typed.
    pub async fn expects_secret(&self, key: &SessionKey) -> bool {
        let Ok(Some(rec)) = self.sessions.get(key).await else { return false };
        let Some(menu) = menu_version(&self.menus, &self.retired, &rec.menu_id, rec.menu_version) else { return false };
        matches!(&menu.screen(rec.state.screen).kind, crate::menu::Kind::Input(i) if i.secret)
    }

    /// The state of the number's session the network dropped (no END) within the resume
    /// window on this channel and menu, ready to continue (secrets dropped), if there is one
    /// worth continuing. Taking it consumes it: it is offered once.
    async fn dropped_session(&self, hop: &Hop, menu: &Served) -> Option<engine::Session> {
        if self.config.resume_window.is_zero() {
            return None;
        }
        let query =
            OpenQuery { msisdn: hop.msisdn, new_session: &hop.key, menu: &menu.id, within: self.config.resume_window };
        let old = match self.sessions.take_open(query).await {
            Ok(old) => old?,
            Err(e) => {
                // Resuming is a convenience: without it the dial starts afresh.
                tracing::warn!(msisdn = %hop.msisdn.masked(), error = %e, "cannot look up a dropped session");
                return None;
            }
        };
        // A menu reloaded since has other screens: positions in the old one mean nothing.
        if old.menu_version != menu.version || !self.catalog.has_locale(&old.state.locale) {
            return None;
        }
        let mut state = old.state;
        engine::resumable(self.ctx(menu, hop.limit), &mut state).then_some(state)
    }

    /// The offer to continue a dropped session, in its language, with a reason on top after
    /// an answer that is neither choice.
    fn resume_offer(&self, locale: &Locale, error: Option<&str>, limit: usize) -> String {
        let f = |id: &str| self.catalog.format(locale, id, None).into_owned();
        let mut text = String::new();
        if let Some(e) = error {
            text.push_str(&f(e));
            text.push('\n');
        }
        text.push_str(&f("njia-resume-offer"));
        for (key, id) in [(RESUME_CONTINUE, "njia-resume-continue"), (RESUME_RESTART, "njia-resume-restart")] {
            text.push('\n');
            text.push_str(key);
            text.push_str(". ");
            text.push_str(&f(id));
        }
        engine::fit(text, limit)
    }

    /// Applies the answer to the offer: the restored screen again, or the menu afresh; `None`
    /// for an answer that is neither.
    fn resume_choice(&self, ctx: Ctx<'_>, rec: &mut SessionRecord, choice: &str) -> Option<Step> {
        let step = match choice {
            RESUME_CONTINUE => engine::current(ctx, &rec.state),
            RESUME_RESTART => {
                let (state, step) = engine::begin_returning(ctx, rec.state.locale.clone(), false, &rec.state.recent);
                rec.state = state;
                step
            }
            _ => return None,
        };
        rec.resuming = false;
        Some(step)
    }

    /// A menu renders with the catalog it was checked with: a retired version with its own.
    fn ctx<'a>(&'a self, menu: &'a Served, limit: usize) -> Ctx<'a> {
        let catalog = match self.retired.iter().find(|r| std::ptr::eq(Arc::as_ptr(&r.menu), menu)) {
            Some(r) => &r.catalog,
            None => &self.catalog,
        };
        Ctx::new(menu, catalog, limit)
    }

    /// Performs the IO a step asks for until the engine has a screen to show.
    async fn resolve(
        &self,
        ctx: Ctx<'_>,
        hop: &Hop,
        rec: &mut SessionRecord,
        mut step: Step,
    ) -> Result<Reply, HubError> {
        // Bounded: a menu could chain lookups, but never more than its screens.
        for _ in 0..=ctx.menu.screens.len() {
            step = match step {
                Step::Show { text, end } => return Ok(Reply { text, end }),
                Step::Lookup(call) => {
                    let lookup_screen = rec.state.screen;
                    let started = std::time::Instant::now();
                    let (answer, outcome) = match tokio::time::timeout(
                        self.config.lookup_timeout,
                        self.lookups.call(hop.msisdn, &call),
                    )
                    .await
                    {
                        Ok(Ok(a)) => {
                            let outcome = match &a {
                                LookupAnswer::Found(_) => "found",
                                LookupAnswer::NotFound => "not_found",
                                LookupAnswer::Failed => "failed",
                            };
                            (a, outcome)
                        }
                        Ok(Err(e)) => {
                            tracing::warn!(backend = %call.backend, operation = %call.operation, error = %e, "lookup failed");
                            (LookupAnswer::Failed, "failed")
                        }
                        Err(_) => {
                            tracing::warn!(backend = %call.backend, operation = %call.operation, "lookup timed out");
                            (LookupAnswer::Failed, "timeout")
                        }
                    };
                    let answered = engine::lookup_answered(ctx, &mut rec.state, answer);
                    let outcome = match &answered.refused {
                        Some(r) => {
                            // Which backend, variable and width, never the value itself (it can
                            // be personal data).
                            tracing::warn!(
                                backend = %call.backend,
                                operation = %call.operation,
                                variable = %r.variable,
                                width = ctx.menu.rule(&r.variable).width,
                                why = %r.why,
                                "lookup answer refused: the citizen gets the apology"
                            );
                            "refused"
                        }
                        None => outcome,
                    };
                    if outcome != "found" && outcome != "not_found" {
                        self.config.funnel.screen(ctx.menu, lookup_screen, funnel::Event::Failed);
                    }
                    self.config.metrics.lookup(outcome, started.elapsed());
                    answered.step
                }
                Step::Submit(call) => {
                    let amount = call.payment.as_ref().map(|p| p.amount);
                    let plan = plan_submit(hop.msisdn, amount, &self.config.handoff, crate::store::now_ms());
                    let request = NewRequest {
                        idempotency_key: idempotency_key(hop),
                        menu: ctx.menu.id.clone(),
                        service: call.service,
                        msisdn: hop.msisdn,
                        locale: rec.state.locale.clone(),
                        payment: call.payment.map(|p| (p.amount, p.account)),
                        fields: call.fields,
                        statuses: plan.statuses,
                        attempt: plan.attempt,
                        jobs: plan.jobs,
                    };
                    // The END "received" screen is rendered only after this commit returned.
                    let stored = self.store.submit(request).await?;
                    tracing::info!(msisdn = %hop.msisdn.masked(), reference = %stored.reference, new = stored.created, "request stored");
                    self.config.wake.notify_one();
                    engine::submitted(ctx, &mut rec.state, stored.reference.as_str())
                }
            };
        }
        Err(HubError::LookupChain)
    }
}

/// What a serving hub writes and tidies besides hops, on the hub `current` returns at each
/// round (a reload replaces it), until it returns none (the server is gone): the drop-off
/// figures and the services used every [`funnel::FLUSH_EVERY`]; search's ranking by use and
/// the expiry of recent services every [`usage::EVERY`]. Expiry also runs once at once, so an
/// instance restarted more often than hourly still forgets; ranking does not, as serving
/// ranked the menus already. Personal data past `retention_days` is purged at once and then
/// every [`PURGE_EVERY`] by the hub's clock (each instance on a shared database purges too; a
/// purge is idempotent and takes its rows with `SKIP LOCKED`). `server::serve` runs it, so a
/// terminal phone or a journey run, which only walk the hub, never adds this work to their
/// start. Without `ranks` (a sandbox beside the live server, which may serve the live set
/// itself) it never ranks.
pub async fn maintain(current: impl Fn() -> Option<Arc<Hub>>, ranks: bool, retention_days: u32) {
    let Some(hub) = current() else { return };
    usage::expire(&*hub.store, &hub.menus, hub.config.clock.now_ms()).await;
    let mut next_purge = purge(&hub, retention_days).await;
    drop(hub);
    let mut flush = tokio::time::interval(funnel::FLUSH_EVERY);
    let mut hourly = tokio::time::interval(usage::EVERY);
    for t in [&mut flush, &mut hourly] {
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick of an interval is at once: this round has just been done.
        t.tick().await;
    }
    loop {
        let hourly_due = tokio::select! {
            _ = flush.tick() => false,
            _ = hourly.tick() => true,
        };
        let Some(hub) = current() else { return };
        if hourly_due {
            let now = hub.config.clock.now_ms();
            if ranks {
                usage::rank(&*hub.store, &hub.menus, now).await;
            }
            usage::expire(&*hub.store, &hub.menus, now).await;
        } else {
            funnel::flush(&hub).await;
            usage::flush(&hub).await;
        }
        // Due by the hub's clock, looked at every round: a test moves a manual clock past a
        // day instead of waiting one.
        if hub.config.clock.now_ms() >= next_purge {
            next_purge = purge(&hub, retention_days).await;
        }
    }
}

/// How often the server purges personal data past `retention_days`.
pub const PURGE_EVERY: Duration = Duration::from_secs(24 * 3600);

/// Purges personal data older than `retention_days` (none when 0) and logs how much, by kind
/// (counts only, never a number); returns when the next purge is due (an hour later after a
/// failure, a day otherwise).
async fn purge(hub: &Hub, retention_days: u32) -> i64 {
    if retention_days == 0 {
        return i64::MAX;
    }
    let now = hub.config.clock.now_ms();
    let cutoff = crate::store::retention::cutoff(now, retention_days);
    let again = match crate::store::retention::purge(&*hub.store, cutoff, now, false).await {
        Ok(p) if p.is_empty() => PURGE_EVERY,
        Ok(p) => {
            tracing::info!(retention_days, purged = %p, "personal data past retention purged");
            PURGE_EVERY
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot purge personal data past retention; trying again in an hour");
            usage::EVERY
        }
    };
    now.saturating_add(again.as_millis() as i64)
}

/// The key a session's submit is stored under: one submit per session, so a retried or
/// duplicated submit hop stores nothing new. The number is part of it, so a telco that reuses
/// session ids cannot collide two citizens.
fn idempotency_key(hop: &Hop) -> String {
    format!("{}:{}:{}", hop.key.channel, hop.key.session_id, hop.msisdn.as_u64())
}

/// Why a hop could not be served: the caller gets the localized apology, the log this reason.
/// A store's or session store's error is kept as it is, shown as it shows itself.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("session id belongs to another number")]
    OtherNumber,
    #[error("menu {0} of a live session is gone")]
    MenuGone(Arc<str>),
    #[error("lookup chain longer than the menu")]
    LookupChain,
}
