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
