# SMS a citizen gets after a request. Every message carries the reference ({$reference}) so
# the citizen can follow the request up on *384#.

sms-service = { $service ->
        [land-rates] land rates
        [licence-renewal] driving licence
       *[other] service
    }
sms-fulfilled-paid = e-Citizen: KES {$amount} received for {$service}, M-Pesa receipt {$receipt}. Request {$reference} is complete. Thank you.
sms-fulfilled = e-Citizen: Request {$reference} for {$service} is complete. Thank you.
sms-rejected = e-Citizen: Request {$reference} for {$service} was turned down by the agency. Dial *384# for details.
sms-rejected-paid = e-Citizen: Request {$reference} for {$service} was turned down. Your payment of KES {$amount} (M-Pesa {$receipt}) will be reviewed for a refund.
sms-payment-insufficient = e-Citizen: Payment for request {$reference} failed: not enough M-Pesa balance. Top up and dial *384# again.
sms-payment-cancelled = e-Citizen: You cancelled the payment for request {$reference}. Dial *384# to try again.
sms-payment-unreachable = e-Citizen: We could not reach your phone with the M-Pesa prompt for request {$reference}. Make sure it is on and dial *384# again.
sms-payment-wrong-pin = e-Citizen: Wrong M-Pesa PIN; request {$reference} is not paid. Dial *384# to try again.
sms-payment-busy = e-Citizen: Your phone was busy, so the M-Pesa prompt for request {$reference} could not be sent. Dial *384# to try again.
sms-payment-failed = e-Citizen: Payment for request {$reference} failed and you were not charged. Dial *384# to try again.
sms-payment-unknown = e-Citizen: We are still confirming the payment for request {$reference}. Do not pay again; we will send you an SMS.
sms-delayed = e-Citizen: Request {$reference} for {$service} is delayed: the agency cannot be reached. We are on it; you will not need to pay again.

# Replies to SMS a citizen sends to the e-Citizen short code. The first word is the keyword:
# STATUS (a request's state) or LANGUAGE (the language of the service). The reply comes in the
# language of the keyword used.

sms-keyword-status = STATUS
sms-keyword-language = LANGUAGE
sms-help = e-Citizen: Send STATUS and your request number, e.g. STATUS NJ-7K2QX. Send LANGUAGE SW for Kiswahili.
sms-status = e-Citizen: Request {$reference} for {$service} { $status ->
        [received] has been received.
        [payment_pending] is awaiting payment. Enter your M-Pesa PIN when the payment prompt comes.
        [paid] is paid and being processed.
        [payment_failed] is not paid: the payment failed. Dial *384# to try again.
        [payment_unknown] is awaiting payment confirmation. Do not pay again.
        [held_for_review] is being checked: its payment did not match. Do not pay again; we will contact you.
        [fulfilling] is being processed by the agency.
        [fulfilled] is complete.
        [rejected] was turned down by the agency. Dial *384# for details.
       *[other] is being processed.
    }
sms-status-unknown = e-Citizen: We found no request {$reference} for this phone number. Check the request number, or dial *384# to see your requests.
sms-language-set = e-Citizen: Done. You will now be served in English, by SMS and on *384#.
sms-language-unknown = e-Citizen: We do not have that language. Send LANGUAGE EN for English or LANGUAGE SW for Kiswahili.
sms-push-unknown = e-Citizen: We cannot yet confirm the M-Pesa payment prompt for request {$reference}. Do not pay again until we send an SMS; send STATUS {$reference} to check.
sms-next-time = Next time dial {$dial}
