# Tume ya Utumishi wa Walimu (TSC) (Teachers Service Commission (TSC)): majina ya huduma na maneno ya kuzitafuta (.keywords).
# Fees and texts are demo data (ada na maelezo ni data ya majaribio). Herufi za GSM-7 pekee.

svc-tsc-registration = Usajili wa walimu (TSC)
    .keywords = tsc mwalimu walimu usajili sajili nambari
svc-tsc-registration-info = Sajili tsc.go.ke: ID, vyeti vya KCSE na chuo, PIN ya KRA na cheti cha maadili mema. Ada KES 1,000. Piga {$service_dial}
svc-tsc-payslip = Payslip ya mwalimu (TSC)
    .keywords = tsc payslip mshahara mwalimu walimu salary
svc-tsc-payslip-info = Walimu hupata payslip kwenye tovuti ya TSC (tsc.go.ke) kwa nambari ya TSC na nenosiri. Piga {$service_dial}
svc-tsc-transfer = Uhamisho wa mwalimu
    .keywords = tsc uhamisho mwalimu walimu transfer kuhama
svc-tsc-transfer-info = Omba tsc.go.ke (huduma za mtandaoni za walimu) dirisha la uhamisho likifunguliwa, kwa nambari ya TSC. Piga {$service_dial}
