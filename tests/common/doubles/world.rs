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
            agencies: crate::common::shipped_agencies(),
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
