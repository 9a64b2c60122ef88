# Higher Education Loans Board (HELB): service names and the words that find them (.keywords).
# Fees and texts are demo data. GSM-7 characters only.

svc-helb-apply = Apply for a HELB loan
    .keywords = helb loan apply university student hef funding
svc-helb-apply-info = New university students apply on hef.co.ke; others on helb.co.ke. Have your ID and KCSE index. Dial {$service_dial}
svc-helb-repay = Repay a HELB loan
    .keywords = helb loan repay repayment pay debt
svc-helb-repay-info = Pay by M-Pesa paybill 200800, account: your ID number. Repayment starts 1 year after you graduate. Dial {$service_dial}
svc-helb-statement = HELB loan balance
    .keywords = helb balance statement loan debt
svc-helb-statement-info = Log in on helb.co.ke or the HELB app with your ID number to see your loan balance. Dial {$service_dial}
svc-helb-clearance = HELB clearance certificate
    .keywords = helb clearance compliance certificate loan job
svc-helb-clearance-info = Once your loan is paid or up to date, request a compliance certificate on helb.co.ke. Fee KES 1,000. Dial {$service_dial}
