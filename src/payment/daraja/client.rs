//! The Daraja client: its configuration, and the HTTP calls (STK push and status query) made
//! with a token from [`super::token`] and bodies and answers read by [`super::wire`].

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::error_chain;
use super::token::Tokens;
use super::wire::{
    ACCOUNT_REFERENCE_MAX, CODE_INVALID_TOKEN, LOCAL_INVALID_ACCOUNT_REFERENCE, LOCAL_INVALID_AMOUNT,
    LOCAL_INVALID_CALLBACK_TOKEN, LOCAL_INVALID_PHONE, TRANSACTION_DESC_MAX, TransactionType, api_error,
    classify_push_response, normalize_phone, parse_query_response, password, sanitize, timestamp_eat,
    valid_callback_token,
};
use crate::BoxFuture;
use crate::payment::{Payments, PushOutcome, PushRequest, QueryOutcome};
use crate::store::Store;

/// Everything the client needs to talk to one Daraja shortcode.
#[derive(Clone)]
pub struct DarajaConfig {
    /// `https://sandbox.safaricom.co.ke` or `https://api.safaricom.co.ke` (a trailing slash is
    /// tolerated and removed).
    pub base_url: String,
    pub consumer_key: String,
    pub consumer_secret: String,
    /// The `BusinessShortCode` (for tills, the store number used at go-live).
    pub shortcode: String,
    /// The Lipa na M-Pesa Online passkey of `shortcode`.
    pub passkey: String,
    pub transaction_type: TransactionType,
    /// The receiving shortcode or till (`PartyB`).
    pub party_b: String,
    /// Public HTTPS base of our callback route; each push calls back to
    /// `{callback_base_url}/{callback_token}`.
    pub callback_base_url: String,
    /// Budget for each HTTP call (token, push, query), connection included.
    pub timeout: Duration,
}

impl DarajaConfig {
    /// The per-call timeout used by well-known Daraja clients, and ours unless configured.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
}

impl fmt::Debug for DarajaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The consumer key and secret and the passkey are credentials: they must never reach a
        // log line, even when a whole config is printed while debugging.
        f.debug_struct("DarajaConfig")
            .field("base_url", &self.base_url)
            .field("consumer_key", &"<redacted>")
            .field("consumer_secret", &"<redacted>")
            .field("shortcode", &self.shortcode)
            .field("passkey", &"<redacted>")
            .field("transaction_type", &self.transaction_type)
            .field("party_b", &self.party_b)
            .field("callback_base_url", &self.callback_base_url)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Why a [`Daraja`] client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum DarajaError {
    #[error("invalid Daraja config: {0}")]
    Config(String),
    #[error("cannot build the HTTP client for Daraja: {0}")]
    Client(#[source] reqwest::Error),
}

/// The current Unix time. A clock set before 1970 reads as 1970; Daraja then refuses the
/// timestamp, which is the visible failure we want for a broken clock.
fn now_unix() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)).unwrap_or(0)
}

/// The Daraja client: one per shortcode and process (see [`Tokens`] for why one).
pub struct Daraja {
    config: DarajaConfig,
    /// `BusinessShortCode` as the number the push body carries.
    shortcode_number: u64,
    push_url: String,
    query_url: String,
    callback_base: String,
    http: reqwest::Client,
    tokens: Tokens,
}

impl fmt::Debug for Daraja {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The token cache is left out: the token is a credential.
        f.debug_struct("Daraja").field("config", &self.config).finish_non_exhaustive()
    }
}

/// Why a call to Daraja did not produce an answer.
enum CallError {
    /// No token could be obtained, so the call itself was not made.
    Token(String),
    /// The request failed in transport.
    Transport(reqwest::Error),
}

impl Daraja {
    /// Checks the config and builds the HTTP client.
    pub fn new(config: DarajaConfig) -> Result<Daraja, DarajaError> {
        let bad = |m: &str| Err(DarajaError::Config(m.to_owned()));
        let base = config.base_url.trim().trim_end_matches('/').to_owned();
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return bad("base_url must start with https:// (or http:// for a local test double)");
        }
        if config.consumer_key.is_empty() || config.consumer_secret.is_empty() {
            return bad("consumer_key and consumer_secret must not be empty");
        }
        if config.passkey.is_empty() {
            return bad("passkey must not be empty");
        }
        let digits = |s: &str| !s.is_empty() && s.len() <= 10 && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(&config.shortcode) || !digits(&config.party_b) {
            return bad("shortcode and party_b must be shortcode or till numbers (digits only)");
        }
        let shortcode_number =
            config.shortcode.parse().map_err(|_| DarajaError::Config("shortcode is not a number".into()))?;
        let callback_base = config.callback_base_url.trim().trim_end_matches('/').to_owned();
        // Daraja only calls back public HTTPS URLs, so anything else would silently lose every
        // callback.
        // Daraja calls back only over HTTPS; plain http is allowed to loopback, where the
        // test doubles live.
        let loopback =
            ["http://127.0.0.1:", "http://localhost:", "http://[::1]:"].iter().any(|p| callback_base.starts_with(p));
        if !(callback_base.starts_with("https://") || loopback) || callback_base.contains(char::is_whitespace) {
            return bad("callback_base_url must be a public https:// URL without spaces");
        }
        if config.timeout.is_zero() {
            return bad("timeout must be greater than zero");
        }
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            // A connection that cannot be opened in time is a connect error, which tells the
            // caller that nothing was sent; without this it would be a bare timeout, an
            // unknown outcome.
            .connect_timeout(config.timeout)
            // A redirected POST would turn into a GET; a redirect is a config error to report.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("njia/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(DarajaError::Client)?;
        let shared_key = format!("daraja:{}@{base}", config.shortcode);
        let tokens = Tokens::new(
            format!("{base}/oauth/v1/generate?grant_type=client_credentials"),
            config.consumer_key.clone(),
            config.consumer_secret.clone(),
            shared_key,
        );
        Ok(Daraja {
            push_url: format!("{base}/mpesa/stkpush/v1/processrequest"),
            query_url: format!("{base}/mpesa/stkpushquery/v1/query"),
            callback_base,
            shortcode_number,
            config,
            http,
            tokens,
        })
    }

    /// Shares the access token with every instance using `store`: a token another instance
    /// fetched is used here too, and a token fetched here is published for the others.
    pub fn with_shared_token(mut self, store: Arc<dyn Store>) -> Daraja {
        self.tokens.share_through(store);
        self
    }

    /// POSTs a JSON body with the current token. When Daraja refuses the token (404.001.03) the
    /// token is dropped, a new one fetched and the call made once more: Daraja checks the token
    /// before processing anything, so even a push is safe to repeat then.
    async fn post_json(&self, url: &str, body: &Value) -> Result<(u16, bytes::Bytes), CallError> {
        let body = body.to_string();
        let mut token = self.tokens.get(&self.http).await.map_err(CallError::Token)?;
        let mut retried = false;
        loop {
            let resp = self
                .http
                .post(url)
                .bearer_auth(&token)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone())
                .send()
                .await
                .map_err(CallError::Transport)?;
            let status = resp.status().as_u16();
            let answer = resp.bytes().await.map_err(CallError::Transport)?;
            let token_refused = api_error(&answer).is_some_and(|e| e.code == CODE_INVALID_TOKEN);
            if !token_refused || retried {
                return Ok((status, answer));
            }
            tracing::warn!(
                code = CODE_INVALID_TOKEN,
                "daraja refused the access token; fetching a new one and retrying once"
            );
            self.tokens.invalidate(&token).await;
            token = self.tokens.get(&self.http).await.map_err(CallError::Token)?;
            retried = true;
        }
    }

    async fn push_once(&self, request: &PushRequest) -> PushOutcome {
        let msisdn = request.phone.masked();
        let Some(phone) = normalize_phone(request.phone) else {
            tracing::warn!(%msisdn, "daraja push refused locally: not a Kenyan mobile number");
            return PushOutcome::Rejected {
                code: LOCAL_INVALID_PHONE.into(),
                message: "M-Pesa can only prompt Kenyan mobile numbers (2547… or 2541…)".into(),
            };
        };
        if request.amount_kes == 0 {
            tracing::warn!(%msisdn, "daraja push refused locally: amount is zero");
            return PushOutcome::Rejected {
                code: LOCAL_INVALID_AMOUNT.into(),
                message: "amount must be at least KES 1".into(),
            };
        }
        let account_reference = sanitize(&request.account_reference, ACCOUNT_REFERENCE_MAX);
        if account_reference.is_empty() {
            tracing::warn!(%msisdn, "daraja push refused locally: empty account reference");
            return PushOutcome::Rejected {
                code: LOCAL_INVALID_ACCOUNT_REFERENCE.into(),
                message: "account reference has no letters or digits".into(),
            };
        }
        if !valid_callback_token(&request.callback_token) {
            tracing::warn!(%msisdn, "daraja push refused locally: callback token is not URL-safe");
            return PushOutcome::Rejected {
                code: LOCAL_INVALID_CALLBACK_TOKEN.into(),
                message: "callback token must be 1 to 128 characters of [A-Za-z0-9_-]".into(),
            };
        }
        // TransactionDesc is optional for Daraja, but an empty string is not the same as an
        // absent field; a neutral word avoids finding out which one it refuses.
        let mut description = sanitize(&request.description, TRANSACTION_DESC_MAX);
        if description.is_empty() {
            description = "Payment".to_owned();
        }

        let timestamp = timestamp_eat(now_unix());
        let body = serde_json::json!({
            "BusinessShortCode": self.shortcode_number,
            "Password": password(&self.config.shortcode, &self.config.passkey, &timestamp),
            "Timestamp": timestamp,
            "TransactionType": self.config.transaction_type.as_str(),
            "Amount": request.amount_kes,
            "PartyA": phone,
            "PartyB": self.config.party_b,
            "PhoneNumber": phone,
            "CallBackURL": format!("{}/{}", self.callback_base, request.callback_token),
            "AccountReference": account_reference,
            "TransactionDesc": description,
        });

        let outcome = match self.post_json(&self.push_url, &body).await {
            Ok((status, answer)) => classify_push_response(status, &answer),
            // Without a token nothing was pushed.
            Err(CallError::Token(detail)) => PushOutcome::NotSent { detail },
            Err(CallError::Transport(e)) if e.is_connect() || e.is_builder() => {
                PushOutcome::NotSent { detail: format!("push not sent: {}", error_chain(&e)) }
            }
            // The request may have reached Daraja: a timeout or a broken connection after
            // sending leaves the outcome open, and pushing again could charge twice.
            Err(CallError::Transport(e)) if e.is_timeout() => PushOutcome::Unknown {
                detail: format!("no answer within {} ms after sending the push", self.config.timeout.as_millis()),
            },
            Err(CallError::Transport(e)) => {
                PushOutcome::Unknown { detail: format!("push failed after sending: {}", error_chain(&e)) }
            }
        };
        log_push(msisdn, &outcome);
        outcome
    }

    async fn query_once(&self, checkout_request_id: &str) -> QueryOutcome {
        let timestamp = timestamp_eat(now_unix());
        let body = serde_json::json!({
            "BusinessShortCode": self.config.shortcode,
            "Password": password(&self.config.shortcode, &self.config.passkey, &timestamp),
            "Timestamp": timestamp,
            "CheckoutRequestID": checkout_request_id,
        });
        let outcome = match self.post_json(&self.query_url, &body).await {
            Ok((status, answer)) => parse_query_response(status, &answer),
            Err(CallError::Token(detail)) => QueryOutcome::Failed { detail },
            Err(CallError::Transport(e)) => {
                QueryOutcome::Failed { detail: format!("query failed: {}", error_chain(&e)) }
            }
        };
        match &outcome {
            QueryOutcome::Pending => tracing::info!(checkout_request_id, "daraja query: still being processed"),
            QueryOutcome::Final { result_code, result_desc } => {
                tracing::info!(checkout_request_id, result_code, result_desc = %result_desc, "daraja query: final result")
            }
            QueryOutcome::Failed { detail } => {
                tracing::warn!(checkout_request_id, detail = %detail, "daraja query failed")
            }
        }
        outcome
    }
}

fn log_push(msisdn: crate::types::Masked, outcome: &PushOutcome) {
    match outcome {
        PushOutcome::Accepted { checkout_request_id, merchant_request_id } => {
            tracing::info!(%msisdn, checkout_request_id = %checkout_request_id, merchant_request_id = %merchant_request_id, "daraja push accepted")
        }
        PushOutcome::Rejected { code, message } => {
            tracing::warn!(%msisdn, code = %code, message = %message, "daraja push rejected")
        }
        PushOutcome::SubscriberBusy { message } => {
            tracing::warn!(%msisdn, message = %message, "daraja push refused: subscriber busy")
        }
        PushOutcome::Throttled { code, message } => {
            tracing::warn!(%msisdn, code = %code, message = %message, "daraja push throttled")
        }
        PushOutcome::Unknown { detail } => {
            tracing::warn!(%msisdn, detail = %detail, "daraja push outcome unknown; waiting for callback or query")
        }
        PushOutcome::NotSent { detail } => tracing::warn!(%msisdn, detail = %detail, "daraja push not sent"),
    }
}

impl Payments for Daraja {
    fn push<'a>(&'a self, request: &'a PushRequest) -> BoxFuture<'a, PushOutcome> {
        Box::pin(self.push_once(request))
    }

    fn query<'a>(&'a self, checkout_request_id: &'a str) -> BoxFuture<'a, QueryOutcome> {
        Box::pin(self.query_once(checkout_request_id))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::types::Msisdn;

    const SANDBOX_PASSKEY: &str = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919";
    const KEY: &str = "key-123";
    const SECRET: &str = "secret-456";
    const CALLBACK_BASE: &str = "https://cb.example.org/daraja";
    const TIMEOUT: Duration = Duration::from_secs(5);

    fn test_config(base_url: &str, timeout: Duration) -> DarajaConfig {
        DarajaConfig {
            base_url: base_url.to_owned(),
            consumer_key: KEY.into(),
            consumer_secret: SECRET.into(),
            shortcode: "174379".into(),
            passkey: SANDBOX_PASSKEY.into(),
            transaction_type: TransactionType::CustomerPayBillOnline,
            party_b: "174379".into(),
            callback_base_url: CALLBACK_BASE.into(),
            timeout,
        }
    }

    fn request() -> PushRequest {
        PushRequest {
            phone: Msisdn::parse("0711000111").unwrap(),
            amount_kes: 10,
            account_reference: "NJ-7K2QX".into(),
            description: "Parking fee".into(),
            callback_token: "cbtok-123_x".into(),
        }
    }

    #[test]
    fn debug_output_redacts_secrets() {
        let text = format!("{:?}", test_config("https://sandbox.safaricom.co.ke", Duration::from_secs(10)));
        for secret in ["key-123", "secret-456", SANDBOX_PASSKEY] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert!(text.contains("174379"));
        assert_eq!(TransactionType::CustomerBuyGoodsOnline.as_str(), "CustomerBuyGoodsOnline");
    }

    #[test]
    fn config_is_checked() {
        let ok = test_config("https://sandbox.safaricom.co.ke/", Duration::from_secs(10));
        let d = Daraja::new(ok.clone()).unwrap();
        assert_eq!(d.push_url, "https://sandbox.safaricom.co.ke/mpesa/stkpush/v1/processrequest");
        let broken: [fn(&mut DarajaConfig); 5] = [
            |c| c.base_url = "sandbox.safaricom.co.ke".into(),
            |c| c.passkey.clear(),
            |c| c.shortcode = "17 4379".into(),
            |c| c.callback_base_url = "http://cb.example.org".into(),
            |c| c.timeout = Duration::ZERO,
        ];
        for f in broken {
            let mut c = ok.clone();
            f(&mut c);
            assert!(matches!(Daraja::new(c), Err(DarajaError::Config(_))));
        }
    }

    /// Needs no server: the port is closed before the client calls it.
    #[tokio::test]
    async fn push_to_closed_port_is_not_sent() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let daraja = Daraja::new(test_config(&format!("http://{addr}"), TIMEOUT)).unwrap();
        // Without a token the token request fails first.
        let outcome = daraja.push(&request()).await;
        assert!(matches!(outcome, PushOutcome::NotSent { .. }), "{outcome:?}");
        // With a cached token the push request itself cannot connect.
        daraja.tokens.cache.lock().await.current =
            Some(("tok-cached".into(), Instant::now() + Duration::from_secs(60)));
        let outcome = daraja.push(&request()).await;
        match outcome {
            PushOutcome::NotSent { detail } => assert!(detail.starts_with("push not sent"), "{detail}"),
            other => panic!("expected NotSent, got {other:?}"),
        }
    }
}
