//! SQLite's [`SmsLog`]: kept SMS and their reads, inbound SMS recorded once with what they
//! queue, and delivery reports under their guard.

use rusqlite::{Connection, params};

use super::writes::queue_sms;
use super::{PROFILE_UPSERT, SqliteStore, all, invalid, msisdn_of, one, phone_of};
use crate::BoxFuture;
use crate::lifecycle::DeliveryStatus;
use crate::store::columns::{delivery_columns, failed_sms_condition, sms_columns};
use crate::store::plan::{self, DeliveryRow};
use crate::store::{DeliveryChange, NewInbound, SMS_FAILED_PREFIX, SmsLog, SmsRecord, SmsRow, StoreError, now_ms};
use crate::types::Reference;

impl SmsLog for SqliteStore {
    fn sms(&self, request_id: Option<i64>, limit: u32) -> BoxFuture<'_, Result<Vec<SmsRow>, StoreError>> {
        self.exec(move |t| {
            all(
                t,
                concat!(
                    "SELECT ",
                    sms_columns!(),
                    " FROM sms s LEFT JOIN requests r ON r.id = s.request_id \
                     WHERE (?1 IS NULL OR s.request_id = ?1) ORDER BY s.id DESC LIMIT ?2"
                ),
                params![request_id, limit],
                row_to_sms,
            )
        })
    }

    fn sms_by_id(&self, id: i64) -> BoxFuture<'_, Result<Option<SmsRow>, StoreError>> {
        self.exec(move |t| {
            one(
                t,
                concat!(
                    "SELECT ",
                    sms_columns!(),
                    " FROM sms s LEFT JOIN requests r ON r.id = s.request_id WHERE s.id = ?1"
                ),
                [id],
                row_to_sms,
            )
        })
    }

    fn sms_by_provider_id<'a>(
        &'a self,
        sender: &'a str,
        provider_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<SmsRow>, StoreError>> {
        let (sender, provider_id) = (sender.to_owned(), provider_id.to_owned());
        self.exec(move |t| {
            one(
                t,
                concat!(
                    "SELECT ",
                    sms_columns!(),
                    " FROM sms s LEFT JOIN requests r ON r.id = s.request_id WHERE s.sender = ?1 AND s.provider_id = ?2"
                ),
                params![sender, provider_id],
                row_to_sms,
            )
        })
    }

    fn failed_sms(&self, limit: u32) -> BoxFuture<'_, Result<Vec<SmsRow>, StoreError>> {
        self.exec(move |t| {
            all(
                t,
                concat!(
                    "SELECT ",
                    sms_columns!(),
                    " FROM sms s LEFT JOIN requests r ON r.id = s.request_id WHERE ",
                    failed_sms_condition!(),
                    " ORDER BY s.id DESC LIMIT $2"
                ),
                params![format!("{SMS_FAILED_PREFIX}%"), limit],
                row_to_sms,
            )
        })
    }

    fn record_inbound(&self, inbound: NewInbound) -> BoxFuture<'_, Result<bool, StoreError>> {
        let remember = inbound.set_language.clone().map(|l| (inbound.msisdn, l));
        let write = self.exec(move |t| record_inbound_tx(t, &inbound, now_ms()));
        Box::pin(async move {
            let new = write.await?;
            // Only after the commit, and only when this write set it (a retry set nothing).
            if new && let Some((msisdn, l)) = remember {
                self.remember_language(msisdn, Some(l));
            }
            Ok(new)
        })
    }

    fn apply_delivery(&self, change: DeliveryChange) -> BoxFuture<'_, Result<bool, StoreError>> {
        self.exec(move |t| apply_delivery_tx(t, &change, now_ms()))
    }
}

/// The record decides: a provider retry (the same provider and id) inserts nothing and so
/// writes nothing else.
fn record_inbound_tx(t: &Connection, m: &NewInbound, now: i64) -> Result<bool, StoreError> {
    let inserted = t
        .prepare_cached(
            "INSERT INTO inbound_sms (provider, provider_id, msisdn, short_code, link_id, sent_at, text_chars, \
             understood, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
             ON CONFLICT (provider, provider_id) DO NOTHING",
        )?
        .execute(params![
            m.provider,
            m.provider_id,
            m.msisdn.as_u64() as i64,
            m.to,
            m.link_id,
            m.sent_at_ms,
            m.text_chars,
            m.understood,
            now
        ])?;
    if inserted == 0 {
        return Ok(false);
    }
    let writes = plan::plan_inbound(m, t.last_insert_rowid());
    if let Some((msisdn, l)) = writes.language {
        t.prepare_cached(PROFILE_UPSERT)?.execute(params![msisdn.as_u64() as i64, l.as_str(), now])?;
    }
    if let Some(reply) = &writes.reply {
        queue_sms(t, reply, now)?;
    }
    Ok(true)
}

fn apply_delivery_tx(t: &Connection, c: &DeliveryChange, now: i64) -> Result<bool, StoreError> {
    // A purged SMS is not found: a report about it changes nothing and sends nothing again.
    let row = one(
        t,
        concat!("SELECT ", delivery_columns!(), " FROM sms WHERE id = ?1 AND msisdn <> 0"),
        [c.sms_id],
        row_to_delivery,
    )?;
    let Some(writes) = plan::plan_delivery(c, row.as_ref()) else { return Ok(false) };
    let c = writes.change;
    t.prepare_cached(
        "UPDATE sms SET delivery = ?2, failure_reason = coalesce(?3, failure_reason), \
         network_code = coalesce(?4, network_code), delivery_at = ?5 WHERE id = ?1",
    )?
    .execute(params![c.sms_id, c.to.as_str(), c.failure_reason, c.network_code, now])?;
    if let Some(resend) = &writes.resend {
        queue_sms(t, resend, now)?;
    }
    Ok(true)
}

fn row_to_delivery(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeliveryRow> {
    Ok(DeliveryRow {
        id: r.get("id")?,
        request_id: r.get("request_id")?,
        inbound_id: r.get("inbound_id")?,
        attempt: r.get("attempt")?,
        msisdn: msisdn_of(r.get("msisdn")?)?,
        locale: r.get("locale")?,
        text: r.get("text")?,
        delivery: r.get("delivery")?,
    })
}

fn row_to_sms(r: &rusqlite::Row<'_>) -> rusqlite::Result<SmsRow> {
    let reference: Option<String> = r.get("reference")?;
    let delivery: Option<String> = r.get("delivery")?;
    Ok(SmsRow {
        id: r.get("id")?,
        reference: reference.as_deref().and_then(Reference::parse),
        record: SmsRecord {
            msisdn: phone_of(r.get("msisdn")?)?,
            locale: r.get("locale")?,
            text: r.get("text")?,
            segments: r.get("segments")?,
            sender: r.get("sender")?,
            status: r.get("status")?,
            provider_id: r.get("provider_id")?,
        },
        at_ms: r.get("created_at")?,
        request_id: r.get("request_id")?,
        inbound_id: r.get("inbound_id")?,
        attempt: r.get("attempt")?,
        resend_of: r.get("resend_of")?,
        delivery: match delivery {
            Some(d) => Some(DeliveryStatus::parse(&d).ok_or_else(|| invalid("delivery"))?),
            None => None,
        },
        failure_reason: r.get("failure_reason")?,
        delivery_at_ms: r.get("delivery_at")?,
    })
}
