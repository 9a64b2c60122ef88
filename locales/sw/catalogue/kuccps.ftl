# Upangaji wa vyuo (KUCCPS) (Kenya Universities and Colleges Central Placement Service (KUCCPS)): majina ya huduma na maneno ya kuzitafuta (.keywords).
# Fees and texts are demo data (ada na maelezo ni data ya majaribio). Herufi za GSM-7 pekee.

agency-kuccps = Upangaji wa vyuo (KUCCPS)

svc-kuccps-application = Omba kozi ya chuo (KUCCPS)
    .keywords = kuccps chuo kozi omba udahili university
svc-kuccps-application-info = Omba students.kuccps.net kwa nambari ya mtihani ya KCSE na mwaka. Ada KES 1,500. Piga {$service_dial}
svc-kuccps-placement = Matokeo ya kupangiwa chuo
    .keywords = kuccps matokeo chuo kupangiwa placement kozi
svc-kuccps-placement-info = Ingia students.kuccps.net, au tuma nambari ya mtihani ya KCSE kwa SMS 20842, kuona kozi na chuo. Piga {$service_dial}
svc-kuccps-transfer = Kuhamia chuo kingine
    .keywords = kuccps kuhamia chuo uhamisho transfer kozi
svc-kuccps-transfer-info = Omba students.kuccps.net dirisha la uhamisho likifunguliwa. Vyuo vyote viwili lazima vikubali. Piga {$service_dial}
