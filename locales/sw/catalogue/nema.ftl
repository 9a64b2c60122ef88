# Mamlaka ya Mazingira (NEMA) (National Environment Management Authority (NEMA)): majina ya huduma na maneno ya kuzitafuta (.keywords).
# Fees and texts are demo data (ada na maelezo ni data ya majaribio). Herufi za GSM-7 pekee.

svc-nema-eia-licence = Leseni ya EIA (mazingira)
    .keywords = nema eia leseni mazingira ujenzi mradi
svc-nema-eia-licence-info = Kabla ya ujenzi, wasilisha ripoti ya EIA kwa nema.go.ke. Ada 0.1% ya gharama, angalau KES 10,000. Piga {$service_dial}
svc-nema-waste-licence = Leseni ya kusafirisha taka
    .keywords = nema taka leseni usafirishaji mazingira waste
svc-nema-waste-licence-info = Wasafirishaji wa taka huomba nema.go.ke na kadi ya gari (logbook) na kibali cha kaunti. Piga {$service_dial}
