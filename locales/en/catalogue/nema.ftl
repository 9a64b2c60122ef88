# National Environment Management Authority (NEMA): service names and the words that find them (.keywords).
# Fees and texts are demo data. GSM-7 characters only.

svc-nema-eia-licence = EIA licence (environment)
    .keywords = nema eia licence environment impact project
svc-nema-eia-licence-info = Submit an expert's EIA report on nema.go.ke before building. Fee 0.1% of cost, min KES 10,000. Dial {$service_dial}
svc-nema-waste-licence = Waste transport licence
    .keywords = nema waste licence garbage transport collection
svc-nema-waste-licence-info = Waste transporters apply on nema.go.ke with the vehicle logbook and a county permit. Dial {$service_dial}
