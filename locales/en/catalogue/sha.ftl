# Social Health Authority (SHA): service names and the words that find them (.keywords).
# Fees and texts are demo data. GSM-7 characters only.

svc-sha-register = Register with SHA
    .keywords = sha health insurance register registration nhif cover
svc-sha-register-info = Dial *147# or go to sha.go.ke with your ID number. Add your spouse and children. It is free. Dial {$service_dial}
svc-sha-contribution = SHA contributions
    .keywords = sha contribution pay premium health insurance nhif
svc-sha-contribution-info = 2.75% of income, at least KES 300 a month. Pay by M-Pesa paybill 222222, account: your ID number. Dial {$service_dial}
svc-sha-status = Check SHA status
    .keywords = sha status check member health insurance nhif
svc-sha-status-info = Dial *147# and choose status, or check on sha.go.ke with your ID number. Dial {$service_dial}
