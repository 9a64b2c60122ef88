# National Social Security Fund (NSSF): service names and the words that find them (.keywords).
# Fees and texts are demo data. GSM-7 characters only.

svc-nssf-register = Register with NSSF
    .keywords = nssf register registration pension number
svc-nssf-register-info = Register free at an NSSF office, Huduma Centre or nssf.or.ke. Bring your ID; your number comes by SMS. Dial {$service_dial}
svc-nssf-statement = NSSF statement
    .keywords = nssf statement contributions balance pension
svc-nssf-statement-info = Log in on nssf.or.ke (self-service) with your NSSF number, or ask at any NSSF office with your ID. Dial {$service_dial}
svc-nssf-contribution = Pay NSSF contributions
    .keywords = nssf contribution pay pension haba voluntary
svc-nssf-contribution-info = Employees pay 6% of pay, employers 6% more. Self-employed: paybill 333300, account: your ID number. Dial {$service_dial}
svc-nssf-benefits = Claim NSSF benefits
    .keywords = nssf benefits claim pension retirement age
svc-nssf-benefits-info = Claim age benefits from 60 at an NSSF office or nssf.or.ke. Bring ID, KRA PIN and bank details. Dial {$service_dial}
