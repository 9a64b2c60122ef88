//! PostgreSQL's [`SmsLog`]: kept SMS and their reads, inbound SMS recorded once with what they
//! queue, and delivery reports under their guard (the SMS's row locked first).

use tokio_postgres::types::ToSql;

use super::languages::PROFILE_UPSERT;
use super::writes::queue_sms;
use super::{PostgresStore, all, bad, count, msisdn_of, one, phone_of};
use crate::BoxFuture;
use crate::lifecycle::DeliveryStatus;
use crate::store::columns::{delivery_columns, failed_sms_condition, sms_columns};
use crate::store::plan::{self, DeliveryRow};
use crate::store::{DeliveryChange, NewInbound, SMS_FAILED_PREFIX, SmsLog, SmsRecord, SmsRow, StoreError, now_ms};
use crate::types::Reference;

impl SmsLog for PostgresStore {
    fn sms(&self, request_id: Option<i64>, limit: u32) -> BoxFuture<'_, Result<Vec<SmsRow>, StoreError>> {
        let sql = concat!(
            "SELECT ",
            sms_columns!(),
            " FROM sms s LEFT JOIN requests r ON r.id = s.request_id \
             WHERE ($1::bigint IS NULL OR s.request_id = $1) ORDER BY s.id DESC LIMIT $2"
        );
        Box::pin(async move { all(&self.background, sql, &[&request_id, &i64::from(limit)], row_to_sms).await })
    }

    fn sms_by_id(&self, id: i64) -> BoxFuture<'_, Result<Option<SmsRow>, StoreError>> {
        let sql = concat!(
            "SELECT ",
            sms_columns!(),
            " FROM sms s LEFT JOIN requests r ON r.id = s.request_id WHERE s.id = $1"
        );
        Box::pin(async move { one(&self.background, sql, &[&id], row_to_sms).await })
    }

    fn sms_by_provider_id<'a>(
        &'a self,
        sender: &'a str,
        provider_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<SmsRow>, StoreError>> {
        let sql = concat!(
            "SELECT ",
            sms_columns!(),
            " FROM sms s LEFT JOIN requests r ON r.id = s.request_id WHERE s.sender = $1 AND s.provider_id = $2"
        );
        Box::pin(async move { one(&self.background, sql, &[&sender, &provider_id], row_to_sms).await })
    }

    fn failed_sms(&self, limit: u32) -> BoxFuture<'_, Result<Vec<SmsRow>, StoreError>> {
        let sql = concat!(
            "SELECT ",
            sms_columns!(),
            " FROM sms s LEFT JOIN requests r ON r.id = s.request_id WHERE ",
            failed_sms_condition!(),
            " ORDER BY s.id DESC LIMIT $2"
        );
        Box::pin(async move {
            let pattern = format!("{SMS_FAILED_PREFIX}%");
            all(&self.background, sql, &[&pattern, &i64::from(limit)], row_to_sms).await
        })
    }

    fn record_inbound(&self, m: NewInbound) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut client = self.background().await?;
            let tx = client.transaction().await?;
            let now = now_ms();
            // The unique (provider, provider_id) decides: a provider retry, even one racing the
            // first delivery on another instance, inserts nothing and so queues nothing.
            let st = tx
                .prepare_cached(
                    "INSERT INTO inbound_sms (provider, provider_id, msisdn, short_code, link_id, sent_at, text_chars, \
                     understood, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (provider, provider_id) DO NOTHING RETURNING id",
                )
                .await?;
            let (msisdn, chars) = (m.msisdn.as_u64() as i64, i64::from(m.text_chars));
            let args: [&(dyn ToSql + Sync); 9] =
                [&m.provider, &m.provider_id, &msisdn, &m.to, &m.link_id, &m.sent_at_ms, &chars, &m.understood, &now];
            let Some(row) = tx.query_opt(&st, &args).await? else { return Ok(false) };
            let writes = plan::plan_inbound(&m, row.get(0));
            if let Some((msisdn, l)) = writes.language {
                let st = tx.prepare_cached(PROFILE_UPSERT).await?;
                tx.execute(&st, &[&(msisdn.as_u64() as i64), &l.as_str(), &now]).await?;
            }
            if let Some(reply) = &writes.reply {
                queue_sms(&tx, reply, now).await?;
            }
            tx.commit().await?;
            Ok(true)
        })
    }

    fn apply_delivery(&self, c: DeliveryChange) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut client = self.background().await?;
            let tx = client.transaction().await?;
            let now = now_ms();
            // Locked before the guard is checked: two instances taking the same report (or two
            // reports) serialise here, and the second sees the first's status.
            let st = tx
                // A purged SMS is not found: a report about it changes nothing, sends nothing again.
                .prepare_cached(concat!(
                    "SELECT ",
                    delivery_columns!(),
                    " FROM sms WHERE id = $1 AND msisdn <> 0 FOR UPDATE"
                ))
                .await?;
            let row = tx.query_opt(&st, &[&c.sms_id]).await?.as_ref().map(row_to_delivery).transpose()?;
            let Some(writes) = plan::plan_delivery(&c, row.as_ref()) else { return Ok(false) };
            let st = tx
                .prepare_cached(
                    "UPDATE sms SET delivery = $2, failure_reason = coalesce($3, failure_reason), \
                     network_code = coalesce($4, network_code), delivery_at = $5 WHERE id = $1",
                )
                .await?;
            let c = writes.change;
            tx.execute(&st, &[&c.sms_id, &c.to.as_str(), &c.failure_reason, &c.network_code, &now]).await?;
            if let Some(resend) = &writes.resend {
                queue_sms(&tx, resend, now).await?;
            }
            tx.commit().await?;
            Ok(true)
        })
    }
}

fn row_to_delivery(r: &tokio_postgres::Row) -> Result<DeliveryRow, StoreError> {
    Ok(DeliveryRow {
        id: r.get("id"),
        request_id: r.get("request_id"),
        inbound_id: r.get("inbound_id"),
        attempt: count(r.get("attempt")),
        msisdn: msisdn_of(r.get("msisdn"))?,
        locale: r.get("locale"),
        text: r.get("text"),
        delivery: r.get("delivery"),
    })
}

fn row_to_sms(r: &tokio_postgres::Row) -> Result<SmsRow, StoreError> {
    let reference: Option<&str> = r.get("reference");
    let delivery: Option<&str> = r.get("delivery");
    Ok(SmsRow {
        id: r.get("id"),
        reference: reference.and_then(Reference::parse),
        record: SmsRecord {
            msisdn: phone_of(r.get("msisdn"))?,
            locale: r.get("locale"),
            text: r.get("text"),
            segments: count(r.get("segments")),
            sender: r.get("sender"),
            status: r.get("status"),
            provider_id: r.get("provider_id"),
        },
        at_ms: r.get("created_at"),
        request_id: r.get("request_id"),
        inbound_id: r.get("inbound_id"),
        attempt: count(r.get("attempt")),
        resend_of: r.get("resend_of"),
        delivery: match delivery {
            Some(d) => Some(DeliveryStatus::parse(d).ok_or_else(|| bad("delivery status"))?),
            None => None,
        },
        failure_reason: r.get("failure_reason"),
        delivery_at_ms: r.get("delivery_at"),
    })
}
