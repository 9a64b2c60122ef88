# Mikopo ya Elimu ya Juu (HELB) (Higher Education Loans Board (HELB)): majina ya huduma na maneno ya kuzitafuta (.keywords).
# Fees and texts are demo data (ada na maelezo ni data ya majaribio). Herufi za GSM-7 pekee.

svc-helb-apply = Omba mkopo wa HELB
    .keywords = helb mkopo omba chuo elimu loan hef
svc-helb-apply-info = Wanafunzi wapya wa chuo kikuu huomba hef.co.ke; wengine helb.co.ke. Leta ID na nambari ya KCSE. Piga {$service_dial}
svc-helb-repay = Lipa mkopo wa HELB
    .keywords = helb mkopo lipa deni repay malipo
svc-helb-repay-info = Lipa M-Pesa paybill 200800, akaunti: nambari ya ID. Malipo huanza mwaka 1 baada ya kumaliza chuo. Piga {$service_dial}
svc-helb-statement = Salio la mkopo wa HELB
    .keywords = helb salio mkopo deni taarifa statement balance
svc-helb-statement-info = Ingia helb.co.ke au programu ya HELB kwa nambari ya ID kuona salio la mkopo wako. Piga {$service_dial}
svc-helb-clearance = Cheti cha HELB (clearance)
    .keywords = helb cheti clearance compliance mkopo kazi
svc-helb-clearance-info = Mkopo ukilipwa au ukiwa sawa, omba cheti (compliance) kwenye helb.co.ke. Ada KES 1,000. Piga {$service_dial}
