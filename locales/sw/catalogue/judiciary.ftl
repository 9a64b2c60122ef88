# Mahakama (The Judiciary): majina ya huduma na maneno ya kuzitafuta (.keywords).
# Fees and texts are demo data (ada na maelezo ni data ya majaribio). Herufi za GSM-7 pekee.

svc-court-case-status = Hali ya kesi mahakamani
    .keywords = kesi mahakama hali korti case status
svc-court-case-status-info = Tafuta nambari ya kesi kwenye efiling.court.go.ke, au uliza masjala ya mahakama ilipofunguliwa. Piga {$service_dial}
svc-court-fees = Ada za mahakama
    .keywords = ada mahakama korti kesi lipa fees
svc-court-fees-info = Ada hukadiriwa kwenye efiling.court.go.ke na kulipwa kwa M-Pesa au benki. Weka risiti. Piga {$service_dial}
svc-small-claims = Mahakama ya madai madogo
    .keywords = madai madogo mahakama deni kesi claims
svc-small-claims-info = Madai hadi KES milioni 1, huamuliwa ndani ya siku 60. Fungua efiling.court.go.ke; wakili si lazima. Piga {$service_dial}
