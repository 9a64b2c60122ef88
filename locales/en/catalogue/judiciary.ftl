# The Judiciary: service names and the words that find them (.keywords).
# Fees and texts are demo data. GSM-7 characters only.

svc-court-case-status = Court case status
    .keywords = court case status hearing judiciary
svc-court-case-status-info = Search your case number on efiling.court.go.ke, or ask at the registry of the court where it was filed. Dial {$service_dial}
svc-court-fees = Court fees
    .keywords = court fees pay filing judiciary case
svc-court-fees-info = Fees are assessed on efiling.court.go.ke and paid by M-Pesa or bank. Keep the receipt. Dial {$service_dial}
svc-small-claims = Small claims court
    .keywords = small claims court debt claim judiciary
svc-small-claims-info = Claims up to KES 1 million, decided in 60 days. File on efiling.court.go.ke; no lawyer needed. Dial {$service_dial}
