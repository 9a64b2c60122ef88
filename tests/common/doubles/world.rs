//! The outside world of a production walk (Daraja, an agency, Africa's Talking SMS) and a
//! production configuration pointed at it.

use njia::config::{AfricasTalkingSection, BackendSection, Config, DarajaSection, SmsSection};
use njia::payment::daraja::TransactionType;
use serde_json::json;

use super::{AgencyDouble, AtSmsDouble, DarajaDouble, DarajaDoubleConfig};

/// Daraja, an agency whose `lands` backend answers the demo parcel's lookup (over signed HTTP,
/// like a real agency), and Africa's Talking SMS: the outside world of a production walk.
pub async fn outside_world() -> (DarajaDouble, AgencyDouble, AtSmsDouble) {
    let daraja = DarajaDouble::start(DarajaDoubleConfig::default()).await;
    let agency = AgencyDouble::start(&AgencyDouble::new_secret()).await;
    agency.set_lookup(
        "rates_due",
        json!({ "parcel": "KAJIADO/1234" }),
        Some(json!({ "owner": "Wanjiku Kamau", "amount": "4,500" })),
    );
    let sms = AtSmsDouble::start("at-test-key").await;
    (daraja, agency, sms)
}

/// Production configuration (no sandbox) pointed at the doubles, with short timings.
pub fn production(
    base: Config,
    addr: std::net::SocketAddr,
    daraja: &DarajaDouble,
    agency: &AgencyDouble,
    sms: &AtSmsDouble,
) -> Config {
    let mut c = base;
    c.sandbox = Some(false);
    c.public_url = Some(format!("http://{addr}"));
    c.daraja = Some(DarajaSection {
        base_url: daraja.url.clone(),
        shortcode: daraja.config.shortcode.clone(),
        party_b: None,
        transaction_type: TransactionType::CustomerPayBillOnline,
        consumer_key_env: "TEST_DARAJA_KEY".into(),
        consumer_secret_env: "TEST_DARAJA_SECRET".into(),
        passkey_env: "TEST_DARAJA_PASSKEY".into(),
        timeout_ms: 1_000,
    });
    c.sms = SmsSection {
        sender: None,
        africastalking: Some(AfricasTalkingSection {
            base_url: sms.url.clone(),
            username: "njia".into(),
            api_key_env: "TEST_AT_KEY".into(),
            from: None,
            timeout_ms: 2_000,
        }),
    };
    c.backends.insert(
        "lands".into(),
        BackendSection {
            base_url: agency.url.clone(),
            secret_env: "TEST_LANDS_SECRET".into(),
            services: vec!["land-rates".into(), "licence-renewal".into()],
            agencies: super::super::shipped_agencies(),
        },
    );
    for (k, v) in [
        ("TEST_DARAJA_KEY", daraja.config.consumer_key.clone()),
        ("TEST_DARAJA_SECRET", daraja.config.consumer_secret.clone()),
        ("TEST_DARAJA_PASSKEY", daraja.config.passkey.clone()),
        ("TEST_AT_KEY", "at-test-key".to_owned()),
        ("TEST_LANDS_SECRET", agency.secret.clone()),
    ] {
        c.secrets.insert(k.into(), v);
    }
    let d = &mut c.dispatcher;
    d.push_delay_ms = 50;
    d.busy_retry_ms = 300;
    d.query_delays_ms = vec![400, 400, 400];
    d.backoff_base_ms = 50;
    d.backoff_cap_ms = 200;
    d.max_failures = 30;
    d.poll_ms = 20;
    d.lease_ms = 5_000;
    c
}

/// How a production configuration file written by [`production_toml`] differs between tests.
pub struct Timings {
    pub push_delay_ms: u64,
    pub lease_ms: u64,
    pub daraja_timeout_ms: u64,
    /// Top-level lines and tables added before `[dispatcher]` (a `database_url`, `[rate_limit]`).
    pub extra: String,
}

/// A production configuration file (no sandbox) for the real binary on `addr`, pointed at the
/// doubles, with the shipped menus and every shipped agency delivered to `agency`. Secrets are
/// named `T_KEY`, `T_SECRET`, `T_PASSKEY`, `T_AT` and `T_LANDS` in the environment.
pub fn production_toml(
    addr: std::net::SocketAddr,
    data: &std::path::Path,
    daraja: &DarajaDouble,
    sms: &AtSmsDouble,
    agency: &AgencyDouble,
    t: &Timings,
) -> String {
    format!(
        r#"listen = "{addr}"
data_dir = "{data}"
menus_dir = "{root}/menus"
locales_dir = "{root}/locales"
lookups_dir = "{root}/menus/lookups"
sandbox = false
public_url = "http://{addr}"
{extra}
[dispatcher]
push_delay_ms = {push_delay}
busy_retry_ms = 300
query_delays_ms = [300, 300, 300, 300]
backoff_base_ms = 50
backoff_cap_ms = 200
poll_ms = 20
lease_ms = {lease}

[daraja]
base_url = "{daraja}"
shortcode = "174379"
consumer_key_env = "T_KEY"
consumer_secret_env = "T_SECRET"
passkey_env = "T_PASSKEY"
timeout_ms = {timeout}

[sms.africastalking]
base_url = "{sms}"
username = "njia"
api_key_env = "T_AT"

[backends.lands-deliveries]
base_url = "{agency}"
secret_env = "T_LANDS"
services = ["land-rates", "licence-renewal"]
agencies = [{agencies}]
"#,
        data = data.display(),
        root = super::super::repo().display(),
        extra = t.extra,
        push_delay = t.push_delay_ms,
        lease = t.lease_ms,
        timeout = t.daraja_timeout_ms,
        daraja = daraja.url,
        sms = sms.url,
        agency = agency.url,
        agencies = super::super::shipped_agencies().iter().map(|a| format!("{a:?}")).collect::<Vec<_>>().join(", "),
    )
}

/// `njia serve --config <config>` as [`super::super::njia`] builds it (none of the operator's
/// settings), with the secrets a [`production_toml`] configuration names set in its
/// environment from the doubles, and warnings only in its log.
pub fn serve_command(config: &std::path::Path, daraja: &DarajaDouble, agency: &AgencyDouble) -> std::process::Command {
    let mut cmd = super::super::njia();
    cmd.args(["serve", "--config"])
        .arg(config)
        .env("T_KEY", &daraja.config.consumer_key)
        .env("T_SECRET", &daraja.config.consumer_secret)
        .env("T_PASSKEY", &daraja.config.passkey)
        .env("T_AT", "at-test-key")
        .env("T_LANDS", &agency.secret)
        .env("RUST_LOG", "warn");
    cmd
}
