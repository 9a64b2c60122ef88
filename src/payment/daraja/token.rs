//! The Daraja access token: reading the OAuth endpoint's answer, how long a token is used, and
//! the cache that makes one process one token owner (single flight, one refresh after Daraja
//! refuses a token, and sharing through the store so that instances do not invalidate one
//! another's tokens).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::error_chain;
use super::wire::{api_error, int_of};
use crate::BoxFuture;
use crate::store::Store;

/// How long before its announced expiry a token is replaced, so that a call never races the
/// expiry on Daraja's clock.
const TOKEN_REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// The token endpoint's answer: `expires_in` is a string (`"3599"`) on the real gateway and a
/// number in the documentation, so both are read.
fn parse_token_response(body: &[u8]) -> Option<(String, Duration)> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let token = v.get("access_token")?.as_str().filter(|t| !t.is_empty())?.to_owned();
    let secs = u64::try_from(int_of(v.get("expires_in")?)?).ok()?;
    Some((token, Duration::from_secs(secs)))
}

/// How long a token with the given lifetime is used before it is replaced: five minutes early,
/// or at half its life when it lives less than ten minutes.
fn token_use_window(expires_in: Duration) -> Duration {
    expires_in.saturating_sub(TOKEN_REFRESH_MARGIN.min(expires_in / 2))
}

/// The current token and the instant it stops being used, and the last token Daraja refused
/// (never taken from the shared store again).
#[derive(Default)]
pub(super) struct TokenCache {
    pub(super) current: Option<(String, Instant)>,
    refused: Option<String>,
}

/// Where a client gets its access token.
///
/// Each token request invalidates the previous token, so there must be one token owner per
/// consumer key; this cache makes the process one (concurrent callers wait for a single fetch
/// rather than each fetching their own).
pub(super) struct Tokens {
    /// The OAuth endpoint, `grant_type` included.
    url: String,
    consumer_key: String,
    consumer_secret: String,
    pub(super) cache: tokio::sync::Mutex<TokenCache>,
    /// Where instances share the token (the store), so that they do not invalidate one
    /// another's by each fetching their own.
    shared: Option<Arc<dyn Store>>,
    /// The token's name in the store: one per shortcode and gateway.
    shared_key: String,
}

impl Tokens {
    pub(super) fn new(url: String, consumer_key: String, consumer_secret: String, shared_key: String) -> Tokens {
        Tokens {
            url,
            consumer_key,
            consumer_secret,
            cache: tokio::sync::Mutex::new(TokenCache::default()),
            shared: None,
            shared_key,
        }
    }

    /// Shares the token with every instance using `store`.
    pub(super) fn share_through(&mut self, store: Arc<dyn Store>) {
        self.shared = Some(store);
    }

    /// A valid token, from the cache or freshly fetched.
    ///
    /// The lock is held during the fetch on purpose: concurrent callers wait for one fetch,
    /// because a second fetch would invalidate the token the first one just obtained.
    pub(super) async fn get(&self, http: &reqwest::Client) -> Result<String, String> {
        let mut cache = self.cache.lock().await;
        if let Some((token, use_until)) = cache.current.as_ref()
            && Instant::now() < *use_until
        {
            return Ok(token.clone());
        }
        cache.current = None;
        let now_ms = crate::store::now_ms();
        let until_ms = |window: Duration| now_ms.saturating_add(i64::try_from(window.as_millis()).unwrap_or(i64::MAX));
        if let Some(store) = &self.shared {
            let fetch: BoxFuture<'_, crate::store::Fetched> = Box::pin(async {
                let (token, expires_in) = self.fetch(http).await?;
                tracing::info!(expires_in_secs = expires_in.as_secs(), "daraja access token refreshed and shared");
                Ok((token, until_ms(token_use_window(expires_in))))
            });
            match store.token_or_fetch(&self.shared_key, now_ms, cache.refused.as_deref(), fetch).await {
                Ok(Ok((token, until))) => {
                    let left = Duration::from_millis(u64::try_from(until - now_ms).unwrap_or(0));
                    cache.current = Some((token.clone(), Instant::now() + left));
                    return Ok(token);
                }
                Ok(Err(fetch_failed)) => return Err(fetch_failed),
                // The database is down: this process fetches on its own rather than stop paying.
                Err(e) => tracing::warn!(error = %e, "cannot share the daraja token through the store; fetching one"),
            }
        }
        let (token, expires_in) = self.fetch(http).await?;
        cache.current = Some((token.clone(), Instant::now() + token_use_window(expires_in)));
        tracing::info!(expires_in_secs = expires_in.as_secs(), "daraja access token refreshed");
        Ok(token)
    }

    /// Forgets `stale` if it is still the cached token. A caller holding an older token must
    /// not throw away a newer one that another caller has fetched meanwhile.
    pub(super) async fn invalidate(&self, stale: &str) {
        let mut cache = self.cache.lock().await;
        if cache.current.as_ref().is_some_and(|(t, _)| t == stale) {
            cache.current = None;
        }
        cache.refused = Some(stale.to_owned());
    }

    async fn fetch(&self, http: &reqwest::Client) -> Result<(String, Duration), String> {
        let resp = http
            .get(&self.url)
            .basic_auth(&self.consumer_key, Some(&self.consumer_secret))
            .send()
            .await
            .map_err(|e| format!("token request failed: {}", error_chain(&e)))?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(|e| format!("token response unreadable: {}", error_chain(&e)))?;
        if (200..300).contains(&status)
            && let Some(parsed) = parse_token_response(&body)
        {
            return Ok(parsed);
        }
        // The body is never quoted: on success it holds the token itself.
        Err(match api_error(&body) {
            Some(e) => format!("token request refused: HTTP {status} {}: {}", e.code, e.message),
            None => format!("token request answered HTTP {status} without a usable token"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_responses_accept_string_and_number_lifetimes() {
        let want = Some(("abc".to_owned(), Duration::from_secs(3599)));
        assert_eq!(parse_token_response(br#"{"access_token":"abc","expires_in":"3599"}"#), want);
        assert_eq!(parse_token_response(br#"{"access_token":"abc","expires_in":3599}"#), want);
        assert_eq!(parse_token_response(br#"{"access_token":"","expires_in":"3599"}"#), None);
        assert_eq!(parse_token_response(br#"{"access_token":"abc","expires_in":"-1"}"#), None);
        assert_eq!(parse_token_response(br#"{"access_token":"abc"}"#), None);
        assert_eq!(token_use_window(Duration::from_secs(3599)), Duration::from_secs(3299));
        assert_eq!(token_use_window(Duration::from_secs(120)), Duration::from_secs(60));
        assert_eq!(token_use_window(Duration::ZERO), Duration::ZERO);
    }
}
