# Teachers Service Commission (TSC): service names and the words that find them (.keywords).
# Fees and texts are demo data. GSM-7 characters only.

svc-tsc-registration = Teacher registration (TSC)
    .keywords = tsc teacher register registration number
svc-tsc-registration-info = Register on tsc.go.ke: ID, KCSE and college certificates, KRA PIN, good conduct. Fee KES 1,000. Dial {$service_dial}
svc-tsc-payslip = Teacher payslip (TSC)
    .keywords = tsc payslip salary pay teacher
svc-tsc-payslip-info = Teachers get payslips on the TSC payslip portal (tsc.go.ke) with TSC number and password. Dial {$service_dial}
svc-tsc-transfer = Teacher transfer
    .keywords = tsc transfer teacher move school
svc-tsc-transfer-info = Apply on tsc.go.ke (teachers online services) when the transfer window opens, with your TSC number. Dial {$service_dial}
