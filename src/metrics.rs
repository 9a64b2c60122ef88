//! Prometheus metrics: counters and histograms with explicit buckets, kept in atomics so the
//! hot path pays one relaxed add per figure, and rendered in the text exposition format at
//! `GET /metrics`.
//!
//! A live server counts in the process's registry ([`METRICS`]); a sandbox built beside it (the
//! console's simulator) counts in a registry of its own ([`Registry::for_server`]), so a
//! simulated walk or payment never shows on the live `/metrics` or fires its alerts. Every
//! figure has a fixed, small label set (channels and outbound providers are registered when
//! the server is built), so a scrape never grows with traffic. What belongs to one server
//! rather than to the registry (its menus' versions, its store's backlog) is read at each
//! scrape and rendered by [`Registry::render_with`].

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use crate::lifecycle::{JobKind, JobState};
use crate::limit::Over;
use crate::store::BacklogFigures;

/// Bucket upper bounds in seconds for work a citizen waits on (a hop, a lookup).
pub const LATENCY_BUCKETS: &[f64] =
    &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// Bucket upper bounds in seconds for the dispatcher's jobs (calls to Daraja, agencies, SMS).
pub const JOB_BUCKETS: &[f64] = &[0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// A histogram with fixed buckets.
pub struct Histogram {
    bounds: &'static [f64],
    /// Per bucket (not cumulative), plus one for +Inf.
    counts: Box<[AtomicU64]>,
    sum_nanos: AtomicU64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_nanos: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = self.bounds.iter().position(|b| secs <= *b).unwrap_or(self.bounds.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, c) in self.counts.iter().enumerate() {
            cumulative += c.load(Ordering::Relaxed);
            let le = self.bounds.get(i).map_or_else(|| "+Inf".to_owned(), |b| b.to_string());
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {cumulative}");
        }
        let braces = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum{braces} {sum}");
        let _ = writeln!(out, "{name}_count{braces} {cumulative}");
    }
}

/// Counters over a fixed set of label values.
pub struct Counters {
    values: &'static [&'static str],
    counts: Box<[AtomicU64]>,
}

impl Counters {
    pub fn new(values: &'static [&'static str]) -> Counters {
        Counters { values, counts: values.iter().map(|_| AtomicU64::new(0)).collect() }
    }

    /// Counts one under `value`, or under the last value (`other`) when it is not in the set.
    pub fn inc(&self, value: &str) {
        let i = self.values.iter().position(|v| *v == value).unwrap_or(self.values.len() - 1);
        self.counts[i].fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(&self, value: &str) -> u64 {
        self.values.iter().position(|v| *v == value).map_or(0, |i| self.counts[i].load(Ordering::Relaxed))
    }

    fn render(&self, out: &mut String, name: &str, label: &str, extra: &str) {
        for (v, c) in self.values.iter().zip(self.counts.iter()) {
            let _ = writeln!(out, "{name}{{{extra}{label}=\"{v}\"}} {}", c.load(Ordering::Relaxed));
        }
    }
}

/// HTTP statuses a channel answers, as counted (anything else is `other`).
const STATUSES: &[&str] = &["200", "400", "401", "403", "404", "405", "408", "413", "503", "other"];

/// One channel's figures.
pub struct ChannelMetrics {
    pub name: String,
    pub duration: Histogram,
    pub statuses: Counters,
}

impl std::fmt::Debug for ChannelMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelMetrics").field("name", &self.name).finish_non_exhaustive()
    }
}

impl ChannelMetrics {
    /// Figures at zero that no registry shows until a server registers the channel
    /// ([`Registry::channel`]): what a channel laid out for `njia check` carries.
    pub fn new(name: &str) -> ChannelMetrics {
        ChannelMetrics {
            name: name.to_owned(),
            duration: Histogram::new(LATENCY_BUCKETS),
            statuses: Counters::new(STATUSES),
        }
    }

    /// Records one request the channel answered.
    pub fn answered(&self, status: u16, took: Duration) {
        self.duration.observe(took);
        count_number(&self.statuses, status.into());
    }
}

/// Counts one under the decimal form of `n` (`other` when that is not a label value). The
/// digits are written into a buffer on the stack by `itoa` (already in the tree through http
/// and serde_json): a status is counted on every hop, so no `String` is made for it.
fn count_number(counters: &Counters, n: i64) {
    counters.inc(itoa::Buffer::new().format(n));
}

/// What became of a hop in the hub.
pub const HOP_OUTCOMES: &[&str] =
    &["continue", "end", "retry", "expired", "unknown_service", "limited_phone", "limited_channel", "error"];
const LOOKUP_OUTCOMES: &[&str] = &["found", "not_found", "failed", "timeout", "refused", "other"];
const JOB_KINDS: &[&str] = &["push", "query", "deliver", "notify", "send", "other"];
const JOB_RESULTS: &[&str] = &["done", "retry", "later", "dead", "lost_lease", "other"];
/// Daraja result codes with a meaning of their own (`lifecycle`, `payment::daraja`).
pub const RESULT_CODES: &[&str] = &["0", "1", "17", "1001", "1019", "1025", "1032", "1037", "2001", "other"];
const SMS_RESULTS: &[&str] = &["accepted", "failed", "other"];
const DELIVERY: &[&str] = &["success", "sent", "submitted", "buffered", "rejected", "failed", "other"];
const RELOADS: &[&str] = &["ok", "refused", "other"];

/// What became of a call to the outside world: `ok` (answered and taken), `refused` (answered
/// and refused for good: the provider is up, the request was wrong), `error` (no usable answer:
/// no connection, a timeout, a 5xx, throttled, an unreadable body, or abandoned by its caller).
pub const OUTBOUND_RESULTS: &[&str] = &["ok", "refused", "error"];

/// One kind of call to one provider (`daraja` `push`, `agency:lands` `deliver`): its latency
/// and results.
pub struct Outbound {
    pub provider: String,
    pub call: &'static str,
    pub duration: Histogram,
    pub results: Counters,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound").field("provider", &self.provider).field("call", &self.call).finish_non_exhaustive()
    }
}

impl Outbound {
    /// Starts timing one call. Finish it with [`Call::done`]; a call dropped unfinished (its
    /// caller's deadline ran out first, as a hop's lookup deadline does) counts as an `error`.
    pub fn start(&self) -> Call<'_> {
        Call { figures: self, started: std::time::Instant::now(), result: None }
    }
}

/// One call being timed (see [`Outbound::start`]).
pub struct Call<'a> {
    figures: &'a Outbound,
    started: std::time::Instant,
    result: Option<&'static str>,
}

impl Call<'_> {
    /// Records the call's end with `result` (one of [`OUTBOUND_RESULTS`]).
    pub fn done(mut self, result: &'static str) {
        self.result = Some(result);
    }

    /// Records nothing: no call was made after all (the client refused the request itself
    /// before sending it).
    pub fn not_made(self) {
        std::mem::forget(self);
    }
}

impl Drop for Call<'_> {
    fn drop(&mut self) {
        self.figures.duration.observe(self.started.elapsed());
        self.figures.results.inc(self.result.unwrap_or("error"));
    }
}

/// The figures of `call` to `provider`, shared by every client built in this process for it.
/// Registered when a client is built, so a provider shows (with zeros) before its first call.
/// Only live servers call the outside world (a sandbox's simulations are not wrapped), so these
/// are always the process's.
pub fn outbound(provider: &str, call: &'static str) -> Arc<Outbound> {
    let mut list = METRICS.outbound.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(o) = list.iter().find(|o| o.provider == provider && o.call == call) {
        return Arc::clone(o);
    }
    let o = Arc::new(Outbound {
        provider: provider.to_owned(),
        call,
        duration: Histogram::new(JOB_BUCKETS),
        results: Counters::new(OUTBOUND_RESULTS),
    });
    list.push(Arc::clone(&o));
    o
}

/// A gauge read at scrape time: name, help and how to read it.
type Gauge = (String, String, Box<dyn Fn() -> f64 + Send + Sync>);

/// Every figure Njia keeps.
pub struct Registry {
    channels: Mutex<Vec<Arc<ChannelMetrics>>>,
    outbound: Mutex<Vec<Arc<Outbound>>>,
    pub hops: Counters,
    pub lookup_duration: Histogram,
    pub lookups: Counters,
    pub job_duration: Vec<Histogram>,
    pub jobs: Vec<Counters>,
    pub payment_results: Counters,
    /// Callbacks that said paid with another amount or phone: requests held for review.
    pub payment_reviews: Counters,
    pub sms_sent: Counters,
    pub delivery_reports: Counters,
    pub denied: AtomicU64,
    /// Catalogue searches that found nothing.
    pub search_misses: AtomicU64,
    pub reloads: Counters,
    /// Called at each scrape for gauges that live elsewhere (live sessions, tracked phones).
    gauges: Mutex<Vec<Gauge>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("live", &std::ptr::eq(self, &**METRICS)).finish_non_exhaustive()
    }
}

/// The process's registry: every live server's.
pub static METRICS: LazyLock<Arc<Registry>> = LazyLock::new(|| Arc::new(Registry::new()));

impl Default for Registry {
    fn default() -> Registry {
        Registry::new()
    }
}

impl Registry {
    /// A registry with every figure at zero.
    pub fn new() -> Registry {
        Registry {
            channels: Mutex::new(Vec::new()),
            outbound: Mutex::new(Vec::new()),
            hops: Counters::new(HOP_OUTCOMES),
            lookup_duration: Histogram::new(LATENCY_BUCKETS),
            lookups: Counters::new(LOOKUP_OUTCOMES),
            job_duration: JOB_KINDS.iter().map(|_| Histogram::new(JOB_BUCKETS)).collect(),
            jobs: JOB_KINDS.iter().map(|_| Counters::new(JOB_RESULTS)).collect(),
            payment_results: Counters::new(RESULT_CODES),
            payment_reviews: Counters::new(&["amount", "phone", "other"]),
            sms_sent: Counters::new(SMS_RESULTS),
            delivery_reports: Counters::new(DELIVERY),
            denied: AtomicU64::new(0),
            search_misses: AtomicU64::new(0),
            reloads: Counters::new(RELOADS),
            gauges: Mutex::new(Vec::new()),
        }
    }

    /// Where a server counts: the process's registry, or for a sandbox beside a live server
    /// (`RunOptions::beside_live`) one of its own, which only its own `/metrics` shows.
    pub fn for_server(beside_live: bool) -> Arc<Registry> {
        if beside_live { Arc::new(Registry::new()) } else { Arc::clone(&METRICS) }
    }

    /// The figures of channel `name`, shared by every server counting here with it.
    pub fn channel(&self, name: &str) -> Arc<ChannelMetrics> {
        let mut list = self.channels.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = list.iter().find(|c| c.name == name) {
            return Arc::clone(c);
        }
        let c = Arc::new(ChannelMetrics::new(name));
        list.push(Arc::clone(&c));
        c
    }

    pub fn search_miss(&self) {
        self.search_misses.fetch_add(1, Ordering::Relaxed);
    }

    pub fn hop(&self, outcome: &str) {
        self.hops.inc(outcome);
    }

    pub fn hop_limited(&self, over: Over) {
        self.hops.inc(match over {
            Over::Phone => "limited_phone",
            Over::Channel => "limited_channel",
        });
    }

    pub fn lookup(&self, outcome: &str, took: Duration) {
        self.lookups.inc(outcome);
        self.lookup_duration.observe(took);
    }

    pub fn job(&self, kind: &str, result: &str, took: Duration) {
        let i = JOB_KINDS.iter().position(|k| *k == kind).unwrap_or(JOB_KINDS.len() - 1);
        self.job_duration[i].observe(took);
        self.jobs[i].inc(result);
    }

    pub fn sms_sent(&self, outcome: &crate::sms::SmsOutcome) {
        self.sms_sent.inc(match outcome {
            crate::sms::SmsOutcome::Accepted { .. } => "accepted",
            _ => "failed",
        });
    }

    pub fn delivery_report(&self, status: &str) {
        self.delivery_reports.inc(status);
    }

    /// Counts a Daraja result code; any code, however large or negative, that is not one of
    /// [`RESULT_CODES`] counts as `other`.
    pub fn payment_result(&self, code: i64) {
        count_number(&self.payment_results, code);
    }
}

/// Registers a gauge in the process's registry, read at each scrape (the latest registration
/// of a name wins). A sandbox beside a live server registers none: the gauges are the live
/// server's.
pub fn gauge(name: &str, help: &str, read: impl Fn() -> f64 + Send + Sync + 'static) {
    let mut g = METRICS.gauges.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    g.retain(|(n, _, _)| n != name);
    g.push((name.to_owned(), help.to_owned(), Box::new(read)));
}

/// What one server adds to its registry's figures at each scrape, read from its own menus and
/// store (a console's sandbox in the same process has its own, and its own `/metrics`).
#[derive(Clone, Debug, Default)]
pub struct Scrape {
    /// Each menu served, with its version (which covers its file, the locales, the data and
    /// its catalogue).
    pub menus: Vec<(String, u64)>,
    /// Each catalogue served, by the id of the menu that holds it, with the version of its files.
    pub catalogues: Vec<(String, u64)>,
    /// The store's backlog; `None` when it did not answer in time.
    pub backlog: Option<BacklogFigures>,
}

/// The job states counted as gauges: done jobs only grow (`njia_jobs_total` counts them).
const GAUGED_STATES: [JobState; 3] = [JobState::Ready, JobState::Running, JobState::Dead];

impl Registry {
    /// The text exposition of every figure.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(16 * 1024);
        let head = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        let channels = self.channels.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        head(
            &mut out,
            "njia_channel_request_duration_seconds",
            "histogram",
            "Time to answer a channel request (a USSD hop, an SMS callback), by channel.",
        );
        for c in &channels {
            c.duration.render(&mut out, "njia_channel_request_duration_seconds", &format!("channel=\"{}\"", c.name));
        }
        head(
            &mut out,
            "njia_channel_requests_total",
            "counter",
            "Channel requests answered, by channel and HTTP status.",
        );
        for c in &channels {
            c.statuses.render(&mut out, "njia_channel_requests_total", "status", &format!("channel=\"{}\",", c.name));
        }
        head(&mut out, "njia_channel_denied_total", "counter", "Requests refused by channel authentication.");
        let _ = writeln!(out, "njia_channel_denied_total {}", self.denied.load(Ordering::Relaxed));
        head(&mut out, "njia_search_misses_total", "counter", "Catalogue searches that found no service.");
        let _ = writeln!(out, "njia_search_misses_total {}", self.search_misses.load(Ordering::Relaxed));
        head(&mut out, "njia_hops_total", "counter", "USSD hops by outcome.");
        self.hops.render(&mut out, "njia_hops_total", "outcome", "");
        head(&mut out, "njia_lookup_duration_seconds", "histogram", "Lookups made inside a session.");
        self.lookup_duration.render(&mut out, "njia_lookup_duration_seconds", "");
        head(&mut out, "njia_lookups_total", "counter", "Lookups by outcome.");
        self.lookups.render(&mut out, "njia_lookups_total", "outcome", "");
        head(&mut out, "njia_job_duration_seconds", "histogram", "Dispatcher jobs run, by kind.");
        for (k, h) in JOB_KINDS.iter().zip(&self.job_duration) {
            h.render(&mut out, "njia_job_duration_seconds", &format!("kind=\"{k}\""));
        }
        head(&mut out, "njia_jobs_total", "counter", "Dispatcher jobs by kind and result.");
        for (k, c) in JOB_KINDS.iter().zip(&self.jobs) {
            c.render(&mut out, "njia_jobs_total", "result", &format!("kind=\"{k}\","));
        }
        head(&mut out, "njia_payment_results_total", "counter", "M-Pesa results by Daraja result code.");
        self.payment_results.render(&mut out, "njia_payment_results_total", "code", "");
        head(
            &mut out,
            "njia_payment_reviews_total",
            "counter",
            "Payment callbacks whose amount or phone disagreed with the attempt: requests held for review.",
        );
        self.payment_reviews.render(&mut out, "njia_payment_reviews_total", "reason", "");
        head(&mut out, "njia_sms_sent_total", "counter", "SMS handed to the SMS API, by result.");
        self.sms_sent.render(&mut out, "njia_sms_sent_total", "result", "");
        head(&mut out, "njia_sms_delivery_reports_total", "counter", "SMS delivery reports by status.");
        self.delivery_reports.render(&mut out, "njia_sms_delivery_reports_total", "status", "");
        head(&mut out, "njia_menu_reloads_total", "counter", "Menu and locale reloads by result.");
        self.reloads.render(&mut out, "njia_menu_reloads_total", "result", "");
        let outbound = self.outbound.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        head(
            &mut out,
            "njia_outbound_duration_seconds",
            "histogram",
            "Calls to the outside world (Daraja, agency backends, the SMS API), by provider and call.",
        );
        for o in &outbound {
            let labels = format!("provider=\"{}\",call=\"{}\"", o.provider, o.call);
            o.duration.render(&mut out, "njia_outbound_duration_seconds", &labels);
        }
        head(
            &mut out,
            "njia_outbound_calls_total",
            "counter",
            "Calls to the outside world by provider, call and result.",
        );
        for o in &outbound {
            let labels = format!("provider=\"{}\",call=\"{}\",", o.provider, o.call);
            o.results.render(&mut out, "njia_outbound_calls_total", "result", &labels);
        }
        let gauges = self.gauges.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for (name, help, read) in gauges.iter() {
            head(&mut out, name, "gauge", help);
            let _ = writeln!(out, "{name} {}", read());
        }
        out
    }

    /// The registry's figures followed by one server's (see [`Scrape`]).
    pub fn render_with(&self, scrape: &Scrape) -> String {
        let mut out = self.render();
        let head = |out: &mut String, name: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        };
        let versions = |list: &[(String, u64)]| {
            let mut v: Vec<String> = list.iter().map(|(id, version)| format!("{id}@{version:016x}")).collect();
            v.sort();
            v.join(",")
        };
        head(&mut out, "njia_build_info", "Always 1: the running version and the menu and catalogue versions served.");
        let _ = writeln!(
            out,
            "njia_build_info{{version=\"{}\",menus=\"{}\",catalogues=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION"),
            versions(&scrape.menus),
            versions(&scrape.catalogues),
        );
        head(&mut out, "njia_store_up", "1 when the store answered this scrape's backlog query within a second.");
        let _ = writeln!(out, "njia_store_up {}", u8::from(scrape.backlog.is_some()));
        // Without an answer the backlog's gauges are left out rather than shown as zeros: an empty
        // queue and an unknown one must not look alike.
        let Some(b) = &scrape.backlog else { return out };
        head(&mut out, "njia_jobs", "Jobs in the queue by kind and state (ready, running, dead).");
        for kind in JobKind::ALL {
            for state in GAUGED_STATES {
                let _ = writeln!(out, "njia_jobs{{kind=\"{kind}\",state=\"{state}\"}} {}", b.jobs(kind, state));
            }
        }
        head(&mut out, "njia_jobs_due", "Ready jobs whose time has come: what the dispatchers should be claiming now.");
        let _ = writeln!(out, "njia_jobs_due {}", b.due);
        head(
            &mut out,
            "njia_jobs_oldest_due_age_seconds",
            "How long the longest-waiting due job has been due (0 when none is).",
        );
        let _ =
            writeln!(out, "njia_jobs_oldest_due_age_seconds {}", b.oldest_due_ms.unwrap_or(0).max(0) as f64 / 1000.0);
        head(
            &mut out,
            "njia_requests_awaiting_admin",
            "Requests only an administrator moves on: payments held for review, payments nothing settled.",
        );
        let _ = writeln!(out, "njia_requests_awaiting_admin{{status=\"held_for_review\"}} {}", b.held_for_review);
        let _ = writeln!(out, "njia_requests_awaiting_admin{{status=\"payment_unknown\"}} {}", b.payment_unknown);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_with_sum_and_count() {
        let h = Histogram::new(&[0.001, 0.01]);
        h.observe(Duration::from_micros(500));
        h.observe(Duration::from_millis(5));
        h.observe(Duration::from_secs(1));
        let mut out = String::new();
        h.render(&mut out, "x", "c=\"a\"");
        assert!(out.contains("x_bucket{c=\"a\",le=\"0.001\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{c=\"a\",le=\"0.01\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{c=\"a\",le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("x_count{c=\"a\"} 3\n"), "{out}");
        assert!(out.contains("x_sum{c=\"a\"} 1.0055"), "{out}");
    }

    #[test]
    fn counters_put_unknown_values_under_other() {
        let c = Counters::new(&["0", "1032", "other"]);
        c.inc("1032");
        c.inc("9999");
        assert_eq!((c.get("1032"), c.get("other"), c.get("0")), (1, 1, 0));
    }

    #[test]
    fn numbers_count_under_their_decimal_form() {
        // (number, label): every label of the set, and numbers outside it, down to the ends of
        // `i64` (a result code is whatever Daraja sends).
        let cases = [
            (0, "0"),
            (1, "1"),
            (17, "17"),
            (1032, "1032"),
            (2001, "2001"),
            (2, "other"),
            (10_000, "other"),
            (10_320, "other"),
            (-1, "other"),
            (-1032, "other"),
            (i64::MIN, "other"),
            (i64::MAX, "other"),
        ];
        for (n, label) in cases {
            let c = Counters::new(RESULT_CODES);
            count_number(&c, n);
            assert_eq!(c.get(label), 1, "{n} counts under {label}");
            assert_eq!(RESULT_CODES.iter().map(|v| c.get(v)).sum::<u64>(), 1, "{n} counts once");
        }
        let ch = ChannelMetrics {
            name: "t".into(),
            duration: Histogram::new(LATENCY_BUCKETS),
            statuses: Counters::new(STATUSES),
        };
        for status in [200, 200, 404, 7, 999, 1000, u16::MAX] {
            ch.answered(status, Duration::from_millis(1));
        }
        let counts: Vec<u64> = ["200", "404", "other"].iter().map(|v| ch.statuses.get(v)).collect();
        assert_eq!(counts, [2, 1, 4]);
    }
}
