# Mamlaka ya Afya ya Jamii (SHA) (Social Health Authority (SHA)): majina ya huduma na maneno ya kuzitafuta (.keywords).
# Fees and texts are demo data (ada na maelezo ni data ya majaribio). Herufi za GSM-7 pekee.

svc-sha-register = Jisajili SHA
    .keywords = sha afya bima jisajili usajili sajili nhif register
svc-sha-register-info = Piga *147# au tembelea sha.go.ke na nambari ya ID. Ongeza mwenzi na watoto. Usajili ni bure. Piga {$service_dial}
svc-sha-contribution = Michango ya SHA
    .keywords = sha michango mchango lipa afya bima nhif
svc-sha-contribution-info = 2.75% ya mapato, angalau KES 300 kwa mwezi. Lipa M-Pesa paybill 222222, akaunti: nambari ya ID. Piga {$service_dial}
svc-sha-status = Angalia hali ya SHA
    .keywords = sha hali angalia afya bima nhif status
svc-sha-status-info = Piga *147# uchague kuangalia hali, au angalia sha.go.ke kwa nambari ya ID yako. Piga {$service_dial}
